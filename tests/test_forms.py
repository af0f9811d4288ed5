"""Tests for sef_workflow.forms: the shipped forms and scales, and what the validator rejects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from sef_workflow.errors import DefinitionError, NotFound
from sef_workflow.forms import (
    Form,
    FormError,
    FormRegistry,
    Scale,
    form_version,
    parse_form,
    parse_scales,
)

FORMS = Path(__file__).parent.parent / "forms"
JUDGEMENTS = (
    "recognition",
    "assessment",
    "planning_intervention",
    "joint_working",
    "impact",
    "overall_quality",
)


@pytest.fixture(scope="module")
def shipped() -> FormRegistry:
    registry = FormRegistry(FORMS)
    registry.forms()
    return registry


# ---------------------------------------------------------------------------------------
# the shipped folder


def test_shipped_scales(shipped: FormRegistry) -> None:
    scales = shipped.scales()
    assert list(scales) == ["rag", "brag", "zero_to_three", "ofsted"]
    assert scales["rag"].keys() == ("red", "amber", "green")
    assert scales["brag"].keys() == ("red", "amber", "green", "blue")
    assert scales["zero_to_three"].keys() == ("0", "1", "2", "3")
    assert scales["ofsted"].keys() == ("inadequate", "requires_improvement", "good", "outstanding")
    assert [lv.label for lv in scales["ofsted"].levels] == [
        "Inadequate",
        "Requires improvement",
        "Good",
        "Outstanding",
    ]
    assert [lv.label for lv in scales["zero_to_three"].levels][:3] == [
        "0 – Not met",
        "1 – Partially met",
        "2 – Met",
    ]
    for scale in scales.values():
        assert [lv.score for lv in scale.levels] == list(range(len(scale.levels)))
        assert scale.max_score == len(scale.levels) - 1
        assert [lv.colour for lv in scale.levels] == ["red", "amber", "green", "blue"][
            : len(scale.levels)
        ]
        for lv in scale.levels:
            assert len(lv.definition) > 40, (scale.name, lv.key)
    assert "embedded" in scales["brag"].level("blue").definition
    assert "impact" in scales["brag"].level("blue").definition


def test_shipped_forms(shipped: FormRegistry) -> None:
    forms = shipped.forms()
    assert sorted(forms) == ["maa_judgements", "section11", "single_agency_audit"]
    for name, form in forms.items():
        assert form.origin == str(FORMS / f"{name}.toml")
        assert form.source == (FORMS / f"{name}.toml").read_text(encoding="utf-8")
        assert form.version == form_version(form.source)
        assert form.scale in form.scales
        assert form.description
        for q in form.questions():
            assert q.guidance, (name, q.number)


def test_section11(shipped: FormRegistry) -> None:
    form = shipped.get("section11")
    assert form.purpose == "self_assessment"
    assert form.scale == "zero_to_three"
    assert form.scales == ("zero_to_three", "rag", "brag")
    assert [s.key for s in form.standards] == [str(i) for i in range(1, 9)]
    for s in form.standards:
        assert 2 <= len(s.questions) <= 3
        assert all(q.number.startswith(f"{s.key}.") for q in s.questions)
        assert all(q.standard == s.key for q in s.questions)
    assert "LADO" in form.standard("5").description
    q11 = form.question("1.1")
    assert (q11.required, q11.evidence) == (True, "required")
    optional = [q for q in form.questions() if not q.required]
    assert [(q.number, q.evidence) for q in optional] == [("3.3", "optional")]


def test_single_agency_audit(shipped: FormRegistry) -> None:
    form = shipped.get("single_agency_audit")
    assert (form.purpose, form.scale, form.scales) == (
        "audit_tool",
        "ofsted",
        ("ofsted", "rag", "brag"),
    )
    assert [s.title for s in form.standards] == [
        "Recognition of need and risk",
        "Assessment",
        "Planning and intervention",
        "Working together",
        "Voice of the child",
        "Impact and outcomes",
    ]
    assert all(1 <= len(s.questions) <= 3 for s in form.standards)
    # each area the meeting judges, except the overall one, is a standard of the tool
    assert set(JUDGEMENTS) - {"overall_quality"} <= {s.key for s in form.standards}


def test_maa_judgements(shipped: FormRegistry) -> None:
    form = shipped.get("maa_judgements")
    assert (form.purpose, form.scale, form.scales) == ("judgements", "ofsted", ("ofsted", "brag"))
    assert [(s.key, s.title) for s in form.standards] == [
        ("judgements", "Multi-agency audit meeting judgements")
    ]
    assert tuple(q.number for q in form.questions()) == JUDGEMENTS
    assert [q.text for q in form.questions()] == [
        "Recognition of need and risk",
        "Assessment",
        "Planning and intervention",
        "Joint working",
        "Impact on the child's outcomes",
        "Overall quality of practice",
    ]
    assert {q.evidence for q in form.questions()} == {"optional"}
    assert all(q.required for q in form.questions())


@pytest.mark.parametrize(
    ("scale", "mean", "expected"),
    [
        ("zero_to_three", 2.5, "2"),
        ("zero_to_three", 3.0, "3"),
        ("zero_to_three", 9.0, "3"),
        ("zero_to_three", 1.0, "1"),
        ("zero_to_three", 0.99, "0"),
        ("zero_to_three", -1.0, "0"),
        ("rag", 1.99, "amber"),
        ("rag", 2, "green"),
        ("ofsted", 1.5, "requires_improvement"),
        ("brag", 2.75, "green"),
    ],
)
def test_level_for_score(shipped: FormRegistry, scale: str, mean: float, expected: str) -> None:
    assert shipped.scale(scale).level_for_score(mean).key == expected


def test_positive(shipped: FormRegistry) -> None:
    positives = {
        name: [lv.key for lv in scale.levels if lv.positive]
        for name, scale in shipped.scales().items()
    }
    assert positives == {
        "rag": ["green"],
        "brag": ["green", "blue"],
        "zero_to_three": ["2", "3"],
        "ofsted": ["good", "outstanding"],
    }


def test_lookups(shipped: FormRegistry) -> None:
    form = shipped.get("section11")
    with pytest.raises(KeyError):
        form.question("9.9")
    with pytest.raises(KeyError):
        form.standard("9")
    with pytest.raises(KeyError):
        shipped.scale("rag").level("blue")
    with pytest.raises(NotFound, match=r"no form named 'nope' \(forms: maa_judgements, "):
        shipped.get("nope")
    with pytest.raises(
        NotFound,
        match=r"no grading scale named 'nope' \(scales: rag, brag, zero_to_three, ofsted\)",
    ):
        shipped.scale("nope")


# ---------------------------------------------------------------------------------------
# small valid files, altered one key at a time

SCALES = """\
[scales.rag]
title = "RAG"
description = "Red, amber, green."

[[scales.rag.levels]]
key = "red"
label = "Red"
score = 0
colour = "red"
definition = "Not met."

[[scales.rag.levels]]
key = "amber"
label = "Amber"
score = 1
colour = "amber"
definition = "Partly met."

[[scales.rag.levels]]
key = "green"
label = "Green"
score = 2
colour = "green"
definition = "Met."

[scales.yes_no]
title = "Yes or no"

[[scales.yes_no.levels]]
key = "no"
label = "No"
score = 10
colour = "grey"
definition = "Not in place."
YES_LEVEL
"""
YES_LEVEL = """
[[scales.yes_no.levels]]
key = "yes"
label = "Yes"
score = 20
colour = "blue"
definition = "In place."
"""
SCALES = SCALES.replace("YES_LEVEL\n", YES_LEVEL)

FORM = """\
[form]
name = "demo"
title = "Demo form"
purpose = "self_assessment"
scale = "rag"
scales = ["rag", "yes_no"]
description = "A made-up form for tests."

[[standards]]
key = "1"
title = "Leadership"
description = "Leaders own safeguarding."

[[standards.questions]]
number = "1.1"
text = "Leaders are accountable."
guidance = "Board minutes."

[[standards.questions]]
number = "1.2"
text = "Leaders review practice."
required = false
evidence = "optional"

[[standards]]
key = "2"
title = "Training"

[[standards.questions]]
number = "2.1"
text = "Staff are trained."
evidence = "none"
"""

Edit = Callable[[str], str]


def sub(old: str, new: str) -> Edit:
    def edit(source: str) -> str:
        assert source.count(old) == 1, old
        return source.replace(old, new)

    return edit


def drop(line: str) -> Edit:
    return sub(line + "\n", "")


def scales() -> dict[str, Scale]:
    return parse_scales(SCALES, "forms/scales.toml")


def demo(source: str = FORM) -> Form:
    return parse_form(source, "forms/demo.toml", scales())


def test_small_files_are_valid() -> None:
    parsed = scales()
    assert list(parsed) == ["rag", "yes_no"]
    assert parsed["yes_no"].description == ""
    assert parsed["yes_no"].level_for_score(15).key == "no"
    assert parsed["yes_no"].level_for_score(3).key == "no"
    assert parsed["yes_no"].level("no").positive is False
    assert parsed["yes_no"].level("yes").positive is True
    form = demo()
    assert (form.name, form.title, form.purpose, form.scale) == (
        "demo",
        "Demo form",
        "self_assessment",
        "rag",
    )
    assert form.scales == ("rag", "yes_no")
    assert [q.number for q in form.questions()] == ["1.1", "1.2", "2.1"]
    q11, q12, q21 = form.questions()
    assert (q11.standard, q11.guidance, q11.required, q11.evidence) == (
        "1",
        "Board minutes.",
        True,
        "required",
    )
    assert (q12.guidance, q12.required, q12.evidence) == ("", False, "optional")
    assert (q21.standard, q21.evidence) == ("2", "none")
    assert form.standard("2").description == ""
    assert form.source == FORM
    assert form.origin == "forms/demo.toml"
    assert form.version == hashlib.sha256(FORM.encode()).hexdigest()[:12]


def test_scales_defaults_and_additions() -> None:
    assert demo(drop('scales = ["rag", "yes_no"]')(FORM)).scales == ("rag",)
    assert demo(sub('scales = ["rag", "yes_no"]', 'scales = ["yes_no"]')(FORM)).scales == (
        "rag",
        "yes_no",
    )
    assert demo(sub('scales = ["rag", "yes_no"]', 'scales = ["yes_no", "rag"]')(FORM)).scales == (
        "yes_no",
        "rag",
    )


def test_version_follows_the_text() -> None:
    changed = FORM.replace("Board minutes.", "Board minutes and reports.")
    assert form_version(changed) != form_version(FORM)
    assert form_version(FORM + "# a comment\n") != form_version(FORM)
    assert len(form_version(FORM)) == 12


SCALE_ERRORS: list[tuple[str, Edit, str]] = [
    ("toml", sub('title = "RAG"', 'title = "RAG'), "malformed TOML: "),
    ("top_key", lambda s: "extra = 1\n" + s, "key 'extra': unknown key (allowed: scales)"),
    ("no_scales", lambda s: "", "key 'scales': is required"),
    ("empty_scales", lambda s: "[scales]\n", "key 'scales': must define at least one scale"),
    ("scale_name", sub("[scales.rag]", "[scales.Rag]"), "key 'scales.Rag': must be a lower-case"),
    (
        "scale_key",
        sub('title = "RAG"', 'title = "RAG"\ncolour = "red"'),
        "key 'scales.rag.colour': unknown key (allowed: title, description, levels)",
    ),
    (
        "level_key",
        sub('definition = "Met."', 'definition = "Met."\nweight = 2'),
        "key 'scales.rag.levels[2].weight': unknown key",
    ),
    ("no_title", drop('title = "RAG"'), "key 'scales.rag.title': is required"),
    ("empty_title", sub('title = "RAG"', 'title = " "'), "key 'scales.rag.title': must be a non"),
    (
        "empty_description",
        sub('description = "Red, amber, green."', 'description = ""'),
        "key 'scales.rag.description': must be a non-empty string",
    ),
    (
        "no_levels",
        sub(YES_LEVEL, ""),
        "key 'scales.yes_no.levels': a scale needs at least 2 levels",
    ),
    (
        "missing_levels",
        lambda s: s.split("[scales.yes_no]")[0] + '[scales.yes_no]\ntitle = "Yes or no"\n',
        "key 'scales.yes_no.levels': is required",
    ),
    (
        "levels_not_array",
        lambda s: s.split("[scales.yes_no]")[0] + '[scales.yes_no]\ntitle = "Y"\nlevels = 2\n',
        "key 'scales.yes_no.levels': must be an array of tables",
    ),
    (
        "empty_label",
        sub('label = "Amber"', 'label = ""'),
        "key 'scales.rag.levels[1].label': must be a non-empty string",
    ),
    (
        "no_label",
        drop('label = "Amber"'),
        "key 'scales.rag.levels[1].label': is required",
    ),
    (
        "empty_definition",
        sub('definition = "Met."', 'definition = ""'),
        "key 'scales.rag.levels[2].definition': must be a non-empty string",
    ),
    (
        "no_definition",
        drop('definition = "In place."'),
        "key 'scales.yes_no.levels[1].definition': is required",
    ),
    ("no_key", drop('key = "amber"'), "key 'scales.rag.levels[1].key': is required"),
    (
        "bad_key",
        sub('key = "amber"', 'key = "am ber"'),
        "key 'scales.rag.levels[1].key': must start with a letter or digit",
    ),
    (
        "duplicate_key",
        sub('key = "amber"', 'key = "red"'),
        "key 'scales.rag.levels[1].key': duplicate level key 'red'",
    ),
    (
        "duplicate_score",
        sub("score = 1\n", "score = 0\n"),
        "key 'scales.rag.levels[1].score': duplicate score 0 (also level 'red')",
    ),
    (
        "descending",
        sub("score = 0\n", "score = 5\n"),
        "key 'scales.rag.levels[1].score': levels must be listed from worst to best",
    ),
    ("no_score", drop("score = 2"), "key 'scales.rag.levels[2].score': is required"),
    (
        "text_score",
        sub("score = 1\n", 'score = "1"\n'),
        "key 'scales.rag.levels[1].score': must be a whole number",
    ),
    (
        "negative_score",
        sub("score = 0\n", "score = -1\n"),
        "key 'scales.rag.levels[0].score': must be a whole number >= 0",
    ),
    (
        "unknown_colour",
        sub('colour = "amber"', 'colour = "orange"'),
        "key 'scales.rag.levels[1].colour': unknown colour 'orange' "
        "(allowed: red, amber, green, blue, grey)",
    ),
    ("no_colour", drop('colour = "blue"'), "key 'scales.yes_no.levels[1].colour': is required"),
]


@pytest.mark.parametrize(
    ("edit", "message"),
    [pytest.param(e, m, id=i) for i, e, m in SCALE_ERRORS],
)
def test_scales_rejected(edit: Edit, message: str) -> None:
    with pytest.raises(FormError) as info:
        parse_scales(edit(SCALES), "forms/scales.toml")
    assert str(info.value).startswith("forms/scales.toml: " + message), str(info.value)


FORM_ERRORS: list[tuple[str, Edit, str]] = [
    ("toml", sub('name = "demo"', 'name = "demo'), "malformed TOML: "),
    (
        "top_key",
        lambda s: "extra = 1\n" + s,
        "key 'extra': unknown key (allowed: form, standards)",
    ),
    ("no_form", lambda s: s[s.index("[[standards]]") :], "key 'form': is required"),
    (
        "form_not_table",
        lambda s: "form = 1\n" + s[s.index("[[standards]]") :],
        "key 'form': must be a table",
    ),
    (
        "form_key",
        sub('title = "Demo form"', 'title = "Demo form"\nowner = "someone"'),
        "key 'form.owner': unknown key (allowed: name, title, purpose, description, scale, scales)",
    ),
    ("no_name", drop('name = "demo"'), "key 'form.name': is required"),
    ("bad_name", sub('name = "demo"', 'name = "Demo"'), "key 'form.name': must be a lower-case"),
    (
        "long_name",
        sub('name = "demo"', 'name = "' + "d" * 65 + '"'),
        "key 'form.name': must be at most 64 characters",
    ),
    ("no_title", drop('title = "Demo form"'), "key 'form.title': is required"),
    (
        "empty_title",
        sub('title = "Demo form"', 'title = ""'),
        "key 'form.title': must be a non-empty string",
    ),
    (
        "empty_description",
        sub('description = "A made-up form for tests."', 'description = ""'),
        "key 'form.description': must be a non-empty string",
    ),
    ("no_purpose", drop('purpose = "self_assessment"'), "key 'form.purpose': is required"),
    (
        "unknown_purpose",
        sub('purpose = "self_assessment"', 'purpose = "inspection"'),
        "key 'form.purpose': must be one of self_assessment, audit_tool, judgements",
    ),
    ("no_scale", drop('scale = "rag"'), "key 'form.scale': is required"),
    (
        "unknown_scale",
        sub('scale = "rag"', 'scale = "ofsted"'),
        "key 'form.scale': unknown scale 'ofsted' (scales: rag, yes_no)",
    ),
    (
        "unknown_scales_entry",
        sub('scales = ["rag", "yes_no"]', 'scales = ["rag", "brag"]'),
        "key 'form.scales[1]': unknown scale 'brag' (scales: rag, yes_no)",
    ),
    (
        "scales_not_list",
        sub('scales = ["rag", "yes_no"]', 'scales = "rag"'),
        "key 'form.scales': must be a non-empty list of scale names",
    ),
    (
        "scales_empty",
        sub('scales = ["rag", "yes_no"]', "scales = []"),
        "key 'form.scales': must be a non-empty list of scale names",
    ),
    (
        "scales_twice",
        sub('scales = ["rag", "yes_no"]', 'scales = ["rag", "rag"]'),
        "key 'form.scales[1]': scale 'rag' is listed twice",
    ),
    (
        "no_standards",
        lambda s: s[: s.index("[[standards]]")],
        "key 'standards': is required",
    ),
    (
        "empty_standards",
        lambda s: "standards = []\n" + s[: s.index("[[standards]]")],
        "key 'standards': must not be empty",
    ),
    (
        "standard_key",
        sub('title = "Training"', 'title = "Training"\nweight = 1'),
        "key 'standards[1].weight': unknown key (allowed: key, title, description, questions)",
    ),
    ("no_standard_key", drop('key = "2"'), "key 'standards[1].key': is required"),
    (
        "bad_standard_key",
        sub('key = "2"', 'key = "two words"'),
        "key 'standards[1].key': must start with a letter or digit",
    ),
    (
        "duplicate_standard",
        sub('key = "2"', 'key = "1"'),
        "key 'standards[1].key': duplicate standard key '1'",
    ),
    ("no_standard_title", drop('title = "Training"'), "key 'standards[1].title': is required"),
    (
        "empty_standard_description",
        sub('description = "Leaders own safeguarding."', 'description = ""'),
        "key 'standards[0].description': must be a non-empty string",
    ),
    (
        "no_questions",
        lambda s: s[: s.rindex("[[standards.questions]]")],
        "key 'standards[1].questions': is required",
    ),
    (
        "question_key",
        sub('text = "Staff are trained."', 'text = "Staff are trained."\nhint = "x"'),
        "key 'standards[1].questions[0].hint': unknown key (allowed: number, text, guidance, "
        "required, evidence)",
    ),
    ("no_number", drop('number = "2.1"'), "key 'standards[1].questions[0].number': is required"),
    (
        "bad_number",
        sub('number = "2.1"', 'number = ".1"'),
        "key 'standards[1].questions[0].number': must start with a letter or digit",
    ),
    (
        "spaced_number",
        sub('number = "2.1"', 'number = "2 1"'),
        "key 'standards[1].questions[0].number': must start with a letter or digit",
    ),
    (
        "float_number",
        sub('number = "2.1"', "number = 2.1"),
        "key 'standards[1].questions[0].number': must start with a letter or digit",
    ),
    (
        "duplicate_number_in_standard",
        sub('number = "1.2"', 'number = "1.1"'),
        "key 'standards[0].questions[1].number': duplicate question number '1.1' "
        "(also in standard '1')",
    ),
    (
        "duplicate_number_across_form",
        sub('number = "2.1"', 'number = "1.2"'),
        "key 'standards[1].questions[0].number': duplicate question number '1.2' "
        "(also in standard '1')",
    ),
    (
        "no_text",
        drop('text = "Leaders review practice."'),
        "key 'standards[0].questions[1].text': is required",
    ),
    (
        "empty_text",
        sub('text = "Staff are trained."', 'text = ""'),
        "key 'standards[1].questions[0].text': must be a non-empty string",
    ),
    (
        "empty_guidance",
        sub('guidance = "Board minutes."', 'guidance = ""'),
        "key 'standards[0].questions[0].guidance': must be a non-empty string",
    ),
    (
        "text_required",
        sub("required = false", 'required = "no"'),
        "key 'standards[0].questions[1].required': must be true or false",
    ),
    (
        "unknown_evidence",
        sub('evidence = "none"', 'evidence = "maybe"'),
        "key 'standards[1].questions[0].evidence': must be one of required, optional, none",
    ),
]


@pytest.mark.parametrize(
    ("edit", "message"),
    [pytest.param(e, m, id=i) for i, e, m in FORM_ERRORS],
)
def test_forms_rejected(edit: Edit, message: str) -> None:
    with pytest.raises(FormError) as info:
        demo(edit(FORM))
    assert str(info.value).startswith("forms/demo.toml: " + message), str(info.value)


def test_error_is_a_definition_error() -> None:
    assert issubclass(FormError, DefinitionError)
    assert FormError.exit_code == 9


# ---------------------------------------------------------------------------------------
# the registry


def folder(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "forms"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_registry_loads_once(tmp_path: Path) -> None:
    directory = folder(tmp_path, {"scales.toml": SCALES, "demo.toml": FORM})
    registry = FormRegistry(directory)
    forms = registry.forms()
    assert list(forms) == ["demo"]
    assert forms["demo"].origin == str(directory / "demo.toml")
    (directory / "demo.toml").write_text("not toml [", encoding="utf-8")
    (directory / "scales.toml").unlink()
    assert registry.forms() is forms
    assert registry.get("demo") is forms["demo"]
    assert registry.scale("rag").title == "RAG"


def test_registry_name_must_match_file(tmp_path: Path) -> None:
    directory = folder(tmp_path, {"scales.toml": SCALES, "other.toml": FORM})
    with pytest.raises(FormError) as info:
        FormRegistry(directory).forms()
    assert str(info.value) == (
        f"{directory / 'other.toml'}: key 'form.name': 'demo' must match the file name 'other'"
    )


def test_registry_missing_folder(tmp_path: Path) -> None:
    registry = FormRegistry(tmp_path / "nowhere")
    with pytest.raises(FormError, match="forms folder not found"):
        registry.forms()
    with pytest.raises(FormError) as info:
        registry.scales()
    assert str(info.value) == f"{tmp_path / 'nowhere'}: forms folder not found"


def test_registry_missing_scales(tmp_path: Path) -> None:
    directory = folder(tmp_path, {"demo.toml": FORM})
    with pytest.raises(FormError) as info:
        FormRegistry(directory).forms()
    assert str(info.value) == f"{directory / 'scales.toml'}: scales file not found"


def test_registry_bad_scales_loads_nothing(tmp_path: Path) -> None:
    bad = SCALES.replace('colour = "amber"', 'colour = "orange"')
    directory = folder(tmp_path, {"scales.toml": bad, "demo.toml": FORM})
    registry = FormRegistry(directory)
    for call in (registry.scales, registry.forms, lambda: registry.get("demo")):
        with pytest.raises(
            FormError, match=r"scales\.toml: key 'scales\.rag\.levels\[1\]\.colour'"
        ):
            call()


def test_registry_first_bad_form_loads_nothing(tmp_path: Path) -> None:
    good = FORM.replace('name = "demo"', 'name = "alpha"')
    bad = FORM.replace('name = "demo"', 'name = "beta"').replace(
        'evidence = "none"', 'evidence = "maybe"'
    )
    directory = folder(tmp_path, {"scales.toml": SCALES, "alpha.toml": good, "beta.toml": bad})
    registry = FormRegistry(directory)
    expected = f"{directory / 'beta.toml'}: key 'standards[1].questions[0].evidence'"
    for call in (registry.forms, lambda: registry.get("alpha")):
        with pytest.raises(FormError) as info:
            call()
        assert str(info.value).startswith(expected)
    # once the file is put right the folder loads in full
    (directory / "beta.toml").write_text(
        bad.replace('evidence = "maybe"', 'evidence = "none"'), encoding="utf-8"
    )
    assert sorted(registry.forms()) == ["alpha", "beta"]


def test_pinned_rebuilds_from_source_and_caches(tmp_path: Path) -> None:
    directory = folder(tmp_path, {"scales.toml": SCALES, "demo.toml": FORM})
    registry = FormRegistry(directory)
    current = registry.get("demo")
    # the current file is cached under its own version
    assert registry.pinned("demo", current.version, "ignored") is current

    stored = FORM.replace("Leaders are accountable.", "Leaders are visibly accountable.")
    version = form_version(stored)
    pinned = registry.pinned("demo", version, stored)
    assert pinned is not current
    assert pinned.question("1.1").text == "Leaders are visibly accountable."
    assert (pinned.version, pinned.origin, pinned.source) == (version, f"demo@{version}", stored)
    # rebuilt once: the same object again, whatever text is passed
    assert registry.pinned("demo", version, "not toml [") is pinned
    assert registry.get("demo") is current
    assert current.question("1.1").text == "Leaders are accountable."


def test_pinned_keeps_the_stored_version(tmp_path: Path) -> None:
    registry = FormRegistry(folder(tmp_path, {"scales.toml": SCALES, "demo.toml": FORM}))
    assert registry.pinned("demo", "0123456789ab", FORM).version == "0123456789ab"


def test_pinned_bad_source_names_the_version(tmp_path: Path) -> None:
    registry = FormRegistry(folder(tmp_path, {"scales.toml": SCALES, "demo.toml": FORM}))
    stored = FORM.replace('evidence = "none"', 'evidence = "maybe"')
    with pytest.raises(FormError) as info:
        registry.pinned("demo", "abcdef012345", stored)
    assert str(info.value).startswith("demo@abcdef012345: key 'standards[1].questions[0].evidence'")
