"""Assessment forms and grading scales: ``forms/*.toml`` read and validated.

A form is the list of questions an agency answers (a Section 11 self-assessment, a
single-agency audit tool) or a meeting records (the multi-agency audit judgements), grouped
into standards. Each answer is a rating on a grading scale. Scales live in
``forms/scales.toml``; every other ``*.toml`` file in the folder is one form.

Both are data the business unit edits. Loading checks everything and fails with a
:class:`FormError` naming the file and the key, in the same one-line shape as workflow
files: ``forms/section11.toml: key 'standards[2].questions[0].evidence': must be one of
required, optional, none``.

An assessment is pinned to the text of the form it started on (:meth:`FormRegistry.pinned`),
so editing a form file never changes an assessment already under way or submitted.

The file format is documented in ``docs/forms.md``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .definitions import _Reader
from .errors import DefinitionError, NotFound

#: a scale's or a form's name
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: a level key, a standard key or a question number: "green", "2", "1.1", "recognition"
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: names and keys are stored with each answer, in columns of this width
MAX_KEY_LENGTH = 64

PURPOSES = ("self_assessment", "audit_tool", "judgements")
EVIDENCE = ("required", "optional", "none")
COLOURS = ("red", "amber", "green", "blue", "grey")
#: colours that reports count as green
POSITIVE_COLOURS = ("green", "blue")
SCALES_FILE = "scales.toml"


class FormError(DefinitionError):
    """A form or scales file is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Level:
    """One point of a grading scale."""

    key: str
    label: str
    definition: str
    score: int
    colour: str

    @property
    def positive(self) -> bool:
        """Whether reports count a rating at this level as green."""
        return self.colour in POSITIVE_COLOURS


@dataclass(frozen=True)
class Scale:
    """A grading scale: its levels from worst to best, in ascending score."""

    name: str
    title: str
    description: str
    levels: tuple[Level, ...]

    def level(self, key: str) -> Level:
        for lv in self.levels:
            if lv.key == key:
                return lv
        raise KeyError(key)

    def keys(self) -> tuple[str, ...]:
        return tuple(lv.key for lv in self.levels)

    def level_for_score(self, mean: float) -> Level:
        """The highest level whose score is at most ``mean``; the lowest level below that."""
        found = self.levels[0]
        for lv in self.levels:
            if lv.score <= mean:
                found = lv
        return found

    @property
    def max_score(self) -> int:
        return self.levels[-1].score


@dataclass(frozen=True)
class Question:
    number: str
    standard: str
    text: str
    guidance: str
    required: bool
    evidence: str


@dataclass(frozen=True)
class Standard:
    key: str
    title: str
    description: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Form:
    """A validated form file, with the text it was read from and that text's version."""

    name: str
    title: str
    purpose: str
    description: str
    scale: str
    scales: tuple[str, ...]
    standards: tuple[Standard, ...]
    source: str
    origin: str
    version: str

    def questions(self) -> tuple[Question, ...]:
        """Every question of the form, standard by standard, in file order."""
        return tuple(q for s in self.standards for q in s.questions)

    def question(self, number: str) -> Question:
        for s in self.standards:
            for q in s.questions:
                if q.number == number:
                    return q
        raise KeyError(number)

    def standard(self, key: str) -> Standard:
        for s in self.standards:
            if s.key == key:
                return s
        raise KeyError(key)


# ---------------------------------------------------------------------------------------
# loading


class _FormReader(_Reader):
    """The workflow reader, raising :class:`FormError`, with helpers for form files."""

    def fail(self, key: str, message: str) -> FormError:
        return FormError(f"{self.origin}: key '{key}': {message}")

    def text(self, data: Mapping[str, Any], key: str, name: str, *, required: bool = True) -> str:
        """A string value: required ones must be there; none may be written empty."""
        where = f"{key}.{name}" if key else name
        if name not in data:
            if required:
                raise self.fail(where, "is required")
            return ""
        value = data[name]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be a non-empty string")
        return value

    def name(self, value: Any, key: str) -> str:
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.fail(key, f"must be a lower-case name like 'section11', got {value!r}")
        if len(value) > MAX_KEY_LENGTH:
            raise self.fail(key, f"must be at most {MAX_KEY_LENGTH} characters")
        return value

    def key(self, data: Mapping[str, Any], key: str, name: str, example: str) -> str:
        where = f"{key}.{name}"
        if name not in data:
            raise self.fail(where, "is required")
        value = data[name]
        if not isinstance(value, str) or not KEY_RE.match(value):
            raise self.fail(
                where,
                "must start with a letter or digit and hold only letters, digits, '.', '_' "
                f"and '-', like {example!r}, got {value!r}",
            )
        if len(value) > MAX_KEY_LENGTH:
            raise self.fail(where, f"must be at most {MAX_KEY_LENGTH} characters")
        return value

    def blocks(self, data: Mapping[str, Any], key: str, name: str, what: str) -> list[Any]:
        """An array of tables that must hold at least one block."""
        where = f"{key}.{name}" if key else name
        raw = data.get(name)
        if raw is None:
            raise self.fail(where, f"is required: {what}")
        if not isinstance(raw, list):
            raise self.fail(where, f"must be an array of tables: {what}")
        if not raw:
            raise self.fail(where, f"must not be empty: {what}")
        return raw


def _load_toml(source: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise FormError(f"{origin}: malformed TOML: {exc}") from None


def form_version(source: str) -> str:
    """The version of a form file: the first 12 hex digits of the SHA-256 of its text."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def parse_scales(source: str, origin: str) -> dict[str, Scale]:
    """Parse and validate the scales file's text. ``origin`` names it in errors."""
    r = _FormReader(origin)
    data = _load_toml(source, origin)
    r.only(data, "", ("scales",))
    if "scales" not in data:
        raise r.fail("scales", "is required: one [scales.<name>] table per grading scale")
    table = r.table(data["scales"], "scales")
    if not table:
        raise r.fail("scales", "must define at least one scale")
    scales: dict[str, Scale] = {}
    for sname, raw in table.items():
        skey = f"scales.{sname}"
        r.name(sname, skey)
        spec = r.table(raw, skey)
        r.only(spec, skey, ("title", "description", "levels"))
        title = r.text(spec, skey, "title")
        description = r.text(spec, skey, "description", required=False)
        levels_raw = r.blocks(spec, skey, "levels", f"[[{skey}.levels]]")
        if len(levels_raw) < 2:
            raise r.fail(f"{skey}.levels", "a scale needs at least 2 levels")
        levels: list[Level] = []
        for i, lraw in enumerate(levels_raw):
            lkey = f"{skey}.levels[{i}]"
            lv = r.table(lraw, lkey)
            r.only(lv, lkey, ("key", "label", "definition", "score", "colour"))
            key = r.key(lv, lkey, "key", "green")
            label = r.text(lv, lkey, "label")
            definition = r.text(lv, lkey, "definition")
            if "score" not in lv:
                raise r.fail(f"{lkey}.score", "is required")
            score = r.int_(lv["score"], f"{lkey}.score")
            if "colour" not in lv:
                raise r.fail(f"{lkey}.colour", "is required")
            colour = lv["colour"]
            if colour not in COLOURS:
                raise r.fail(
                    f"{lkey}.colour", f"unknown colour {colour!r} (allowed: {', '.join(COLOURS)})"
                )
            for other in levels:
                if other.key == key:
                    raise r.fail(f"{lkey}.key", f"duplicate level key {key!r}")
                if other.score == score:
                    raise r.fail(
                        f"{lkey}.score", f"duplicate score {score} (also level {other.key!r})"
                    )
            if levels and score < levels[-1].score:
                raise r.fail(
                    f"{lkey}.score",
                    f"levels must be listed from worst to best in ascending score: {score} "
                    f"comes after {levels[-1].score}",
                )
            levels.append(
                Level(key=key, label=label, definition=definition, score=score, colour=colour)
            )
        scales[sname] = Scale(
            name=sname, title=title, description=description, levels=tuple(levels)
        )
    return scales


def parse_form(source: str, origin: str, scales: Mapping[str, Scale]) -> Form:
    """Parse and validate one form file's text against the known scales."""
    r = _FormReader(origin)
    data = _load_toml(source, origin)
    r.only(data, "", ("form", "standards"))
    if "form" not in data:
        raise r.fail("form", "is required: a [form] table")
    head = r.table(data["form"], "form")
    r.only(head, "form", ("name", "title", "purpose", "description", "scale", "scales"))
    name = r.name(head.get("name"), "form.name")
    title = r.text(head, "form", "title")
    if "purpose" not in head:
        raise r.fail("form.purpose", "is required")
    purpose = head["purpose"]
    if purpose not in PURPOSES:
        raise r.fail("form.purpose", f"must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    description = r.text(head, "form", "description", required=False)
    known = ", ".join(scales) or "none"
    scale = r.text(head, "form", "scale")
    if scale not in scales:
        raise r.fail("form.scale", f"unknown scale {scale!r} (scales: {known})")
    choices_raw = head.get("scales", [scale])
    if not isinstance(choices_raw, list) or not choices_raw:
        raise r.fail("form.scales", "must be a non-empty list of scale names")
    choices: list[str] = []
    for i, c in enumerate(choices_raw):
        if c not in scales:
            raise r.fail(f"form.scales[{i}]", f"unknown scale {c!r} (scales: {known})")
        if c in choices:
            raise r.fail(f"form.scales[{i}]", f"scale {c!r} is listed twice")
        choices.append(c)
    if scale not in choices:
        choices.insert(0, scale)

    standards: list[Standard] = []
    numbers: dict[str, str] = {}
    for i, sraw in enumerate(r.blocks(data, "", "standards", "a form needs [[standards]]")):
        skey = f"standards[{i}]"
        st = r.table(sraw, skey)
        r.only(st, skey, ("key", "title", "description", "questions"))
        std_key = r.key(st, skey, "key", "1")
        if any(s.key == std_key for s in standards):
            raise r.fail(f"{skey}.key", f"duplicate standard key {std_key!r}")
        std_title = r.text(st, skey, "title")
        std_description = r.text(st, skey, "description", required=False)
        questions: list[Question] = []
        what = f"a standard needs at least one [[standards.questions]] ({skey})"
        for j, qraw in enumerate(r.blocks(st, skey, "questions", what)):
            qkey = f"{skey}.questions[{j}]"
            q = r.table(qraw, qkey)
            r.only(q, qkey, ("number", "text", "guidance", "required", "evidence"))
            number = r.key(q, qkey, "number", "1.1")
            if number in numbers:
                raise r.fail(
                    f"{qkey}.number",
                    f"duplicate question number {number!r} (also in standard {numbers[number]!r})",
                )
            numbers[number] = std_key
            evidence = q.get("evidence", "required")
            if evidence not in EVIDENCE:
                raise r.fail(f"{qkey}.evidence", f"must be one of {', '.join(EVIDENCE)}")
            questions.append(
                Question(
                    number=number,
                    standard=std_key,
                    text=r.text(q, qkey, "text"),
                    guidance=r.text(q, qkey, "guidance", required=False),
                    required=r.bool_(q, qkey, "required", True),
                    evidence=evidence,
                )
            )
        standards.append(
            Standard(
                key=std_key,
                title=std_title,
                description=std_description,
                questions=tuple(questions),
            )
        )
    return Form(
        name=name,
        title=title,
        purpose=purpose,
        description=description,
        scale=scale,
        scales=tuple(choices),
        standards=tuple(standards),
        source=source,
        origin=origin,
        version=form_version(source),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FormError(f"{path}: cannot read: not UTF-8 text") from None


def _load_form(path: Path, scales: Mapping[str, Scale]) -> Form:
    form = parse_form(_read(path), str(path), scales)
    if form.name != path.stem:
        raise FormError(
            f"{path}: key 'form.name': '{form.name}' must match the file name '{path.stem}'"
        )
    return form


class FormRegistry:
    """The scales and current form files, and every pinned form version asked for since."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._scales: dict[str, Scale] | None = None
        self._forms: dict[str, Form] | None = None
        self._pinned: dict[tuple[str, str], Form] = {}

    def scales(self) -> dict[str, Scale]:
        """The grading scales of ``scales.toml``, read once."""
        if self._scales is None:
            if not self.directory.is_dir():
                raise FormError(f"{self.directory}: forms folder not found")
            path = self.directory / SCALES_FILE
            if not path.is_file():
                raise FormError(f"{path}: scales file not found")
            self._scales = parse_scales(_read(path), str(path))
        return self._scales

    def forms(self) -> dict[str, Form]:
        """Every form in the folder, validated; the first invalid file raises."""
        if self._forms is None:
            scales = self.scales()
            found: dict[str, Form] = {}
            for path in sorted(self.directory.glob("*.toml")):
                if path.name == SCALES_FILE:
                    continue
                form = _load_form(path, scales)
                found[form.name] = form
            for form in found.values():
                self._pinned[(form.name, form.version)] = form
            self._forms = found
        return self._forms

    def get(self, name: str) -> Form:
        forms = self.forms()
        if name not in forms:
            raise NotFound(f"no form named '{name}' (forms: {', '.join(forms) or 'none'})")
        return forms[name]

    def scale(self, name: str) -> Scale:
        scales = self.scales()
        if name not in scales:
            raise NotFound(
                f"no grading scale named '{name}' (scales: {', '.join(scales) or 'none'})"
            )
        return scales[name]

    def pinned(self, name: str, version: str, source: str) -> Form:
        """The form an assessment started on, rebuilt from its stored text once per version."""
        key = (name, version)
        form = self._pinned.get(key)
        if form is None:
            form = parse_form(source, f"{name}@{version}", self.scales())
            if form.version != version:
                form = replace(form, version=version)
            self._pinned[key] = form
        return form
