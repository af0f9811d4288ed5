"""Tests for the email templates and sef_workflow.notify.render: privacy by construction."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from sef_workflow.definitions import Registry, Workflow
from sef_workflow.notify.render import (
    ALLOWED_NAMES,
    NO_DEADLINE,
    SAMPLE_CONTEXT,
    SUBJECT_MAX,
    SUBJECT_NAMES,
    Rendered,
    TemplateError,
    Templates,
)

ROOT = Path(__file__).resolve().parent.parent
NOTIFICATIONS = ROOT / "notifications"
WORKFLOWS = ROOT / "workflows"
PARTNERSHIP = "Northshire SCP (fictional)"
#: messages the service sends itself, outside any workflow file
SERVICE_NAMES = ("deadline_extended", "deadline_paused", "deadline_resumed", "deadline_waived")
#: every message the product is known to send (workflows, the service, docs/workflows.md)
EXPECTED = frozenset(
    {
        "action_assigned",
        "action_completion_submitted",
        "action_overdue",
        "action_plan_agreed",
        "action_plan_signoff_requested",
        "action_reprogrammed",
        "action_sent_back",
        "action_signed_off",
        "activity_cancelled",
        "activity_closed",
        "agency_summary_requested",
        "approval_requested",
        "audit_tool_issued",
        "challenge_event_invitation",
        "challenge_raised",
        "challenge_response_received",
        "chronology_requested",
        "draft_report_received",
        "due_today",
        "escalation_agency_manager",
        "escalation_business_unit",
        "escalation_subgroup_chair",
        "overdue_chaser",
        "panel_notified",
        "practice_review_notice",
        "practice_review_opened",
        "rapid_review_decision",
        "rapid_review_meeting_arranged",
        "rapid_review_signoff_requested",
        "reminder",
        "report_requested",
        "reprogramme_declined",
        "reprogramme_requested",
        "return_received",
        "return_sent_back",
        "review_published",
        "s11_assessment_issued",
        "s11_feedback_issued",
        "safeguarding_concern_escalated",
        "statutory_deadline_escalation",
        "statutory_deadline_overdue",
        "statutory_deadline_reminder",
        "deadline_extended",
        "deadline_paused",
        "deadline_resumed",
        "deadline_waived",
        "data_return_requested",
    }
)
#: messages about something without a deadline of its own to state (information, a
#: decision, a question for managers): every other message says by when
WITHOUT_DEADLINE = frozenset(
    {
        "action_completion_submitted",
        "action_plan_agreed",
        "action_plan_signoff_requested",
        "action_signed_off",
        "activity_cancelled",
        "activity_closed",
        "approval_requested",
        "challenge_event_invitation",
        "challenge_response_received",
        "deadline_paused",
        "deadline_waived",
        "draft_report_received",
        "panel_notified",
        "practice_review_notice",
        "practice_review_opened",
        "rapid_review_decision",
        "rapid_review_meeting_arranged",
        "rapid_review_signoff_requested",
        "return_received",
        "review_published",
        "safeguarding_concern_escalated",
    }
)
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


# ---------------------------------------------------------------------------------------
# helpers


def workflow_templates(workflows: dict[str, Workflow]) -> set[str]:
    """Every template name a workflow file refers to: notify lists and reminder ladders."""
    names: set[str] = set()
    for wf in workflows.values():
        names.update(n.template for n in wf.open_notify)
        for t in wf.transitions:
            names.update(n.template for n in t.notify)
        for kind in wf.tasks.values():
            names.update(n.template for n in kind.add_notify)
            for t in kind.transitions:
                names.update(n.template for n in t.notify)
            ladder = kind.ladder
            for name in (ladder.before_template, ladder.on_due_template, ladder.chase_template):
                if name is not None:
                    names.add(name)
            names.update(e.template for e in ladder.escalations)
    return names


class StrictHTML(HTMLParser):
    """Collects links and fails on a closing tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.hrefs: list[str] = []
        self.doctype = ""
        self.html_attrs: dict[str, str | None] = {}
        self.title = ""
        self._in_title = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.html_attrs = dict(attrs)
        if tag == "a":
            href = dict(attrs).get("href")
            assert href, "a link without href"
            self.hrefs.append(href)
        if tag == "title":
            self._in_title = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID, f"<{tag}/> is not a void element"

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}> closes a void element"
        assert self.stack, f"</{tag}> closes nothing"
        opened = self.stack.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse_html(html: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


LAYOUT = (
    '<!doctype html><html lang="en"><head><title>{{ reference }}</title></head>'
    "<body><p>{{ partnership_name }}</p>{% block content %}{% endblock %}</body></html>\n"
)


def message(folder: Path, name: str, subject: str, text: str, html: str) -> None:
    write(
        folder,
        {
            f"{name}.subject.j2": subject,
            f"{name}.txt.j2": text,
            f"{name}.html.j2": '{% extends "_layout.html.j2" %}{% block content %}'
            + html
            + "{% endblock %}",
        },
    )


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(NOTIFICATIONS, PARTNERSHIP)


@pytest.fixture
def tmp_templates(tmp_path: Path) -> Path:
    write(tmp_path, {"_layout.html.j2": LAYOUT})
    message(tmp_path, "ok", "{{ reference }}: ok", "Dear {{ recipient_name }}", "<p>ok</p>")
    return tmp_path


# ---------------------------------------------------------------------------------------
# the shipped templates


def test_shipped_templates_pass_the_check(templates: Templates) -> None:
    required = workflow_templates(Registry(WORKFLOWS).current()) | set(SERVICE_NAMES)
    assert templates.check(required=required) == []
    assert required <= set(templates.names())


def test_every_known_message_has_templates(templates: Templates) -> None:
    assert set(templates.names()) >= EXPECTED
    assert not any(name.startswith("_") for name in templates.names())


def test_the_sample_context_is_fictional_and_complete() -> None:
    assert set(SAMPLE_CONTEXT) == ALLOWED_NAMES - {"partnership_name"}
    assert SAMPLE_CONTEXT["reference"] == "MAA-2026-001"
    assert "fictional" in str(SAMPLE_CONTEXT["agency_name"])
    assert str(SAMPLE_CONTEXT["link"]).startswith("http://127.0.0.1")


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("deadline", [True, False], ids=["deadline", "no-deadline"])
def test_every_message_renders(templates: Templates, name: str, deadline: bool) -> None:
    context = dict(SAMPLE_CONTEXT) if deadline else {**SAMPLE_CONTEXT, **NO_DEADLINE}
    out = templates.render(name, context)
    assert isinstance(out, Rendered)
    reference = str(SAMPLE_CONTEXT["reference"])
    link = str(SAMPLE_CONTEXT["link"])

    # the subject: one line, with the reference, and nothing but the clear names
    assert "\n" not in out.subject
    assert "\r" not in out.subject
    assert 0 < len(out.subject) <= SUBJECT_MAX
    assert out.subject == out.subject.strip()
    assert reference in out.subject
    for key, value in SAMPLE_CONTEXT.items():
        if key not in SUBJECT_NAMES and isinstance(value, str):
            assert value not in out.subject, f"{key} in the subject"
    assert PARTNERSHIP not in out.subject

    # the text body: addressed, with the link, nothing left unrendered
    assert str(SAMPLE_CONTEXT["recipient_name"]) in out.text
    assert link in out.text
    assert "do not forward" in out.text
    for body in (out.text, out.html):
        assert "{{" not in body
        assert "{%" not in body
        assert "None" not in body
        assert "Undefined" not in body

    # the HTML body: the layout, well formed, the link as a real link
    assert out.html.lstrip().lower().startswith("<!doctype html>")
    assert 'lang="en"' in out.html
    assert PARTNERSHIP in out.html
    assert "do not forward" in out.html
    parsed = parse_html(out.html)
    assert parsed.doctype.lower() == "doctype html"
    assert parsed.html_attrs.get("lang") == "en"
    assert parsed.title.strip()
    assert link in parsed.hrefs
    assert all(href.startswith(("http://", "https://")) for href in parsed.hrefs)

    if deadline and name not in WITHOUT_DEADLINE:
        assert str(SAMPLE_CONTEXT["deadline"]) in out.text
        assert str(SAMPLE_CONTEXT["deadline"]) in out.html
    if not deadline:
        assert str(SAMPLE_CONTEXT["deadline_text"]) not in out.text


def test_messages_with_a_deadline_say_when(templates: Templates) -> None:
    for name in ("reminder", "due_today", "overdue_chaser", "audit_tool_issued"):
        out = templates.render(name, SAMPLE_CONTEXT)
        assert "Mon 29 Dec 2025" in out.text
        assert "Mon 29 Dec 2025" in out.html
    text = templates.render("reminder", SAMPLE_CONTEXT).text
    assert "3 working days left" in text


def test_escalations_name_the_agency(templates: Templates) -> None:
    agency = str(SAMPLE_CONTEXT["agency_name"])
    for name in ("escalation_agency_manager", "escalation_business_unit"):
        out = templates.render(name, SAMPLE_CONTEXT)
        assert agency in out.text
        assert agency in out.html
        assert agency not in out.subject


def test_html_is_escaped_and_text_is_not(templates: Templates) -> None:
    context = {**SAMPLE_CONTEXT, "agency_name": "<script>alert('x')</script> & Co"}
    out = templates.render("reminder", context)
    assert "<script>" not in out.html
    assert "&lt;script&gt;" in out.html
    assert "&amp; Co" in out.html
    assert "<script>alert('x')</script> & Co" in out.text
    parse_html(out.html)


def test_rendering_again_gives_the_same_message(templates: Templates) -> None:
    """A sanity check that compiled templates are reused; deliberately not timed."""
    first = {name: templates.render(name, SAMPLE_CONTEXT) for name in templates.names()}
    for _ in range(20):
        for name in templates.names():
            assert templates.render(name, SAMPLE_CONTEXT) == first[name]


def test_variables_lists_what_a_message_uses(templates: Templates) -> None:
    used = templates.variables("reminder")
    assert {"reference", "agency_name", "deadline", "link", "partnership_name"} <= used
    assert used <= ALLOWED_NAMES


# ---------------------------------------------------------------------------------------
# the renderer: context, strictness, errors


def test_a_context_key_outside_the_allow_list_is_refused(templates: Templates) -> None:
    with pytest.raises(TemplateError, match="child_name"):
        templates.render("reminder", {**SAMPLE_CONTEXT, "child_name": "Jo"})
    with pytest.raises(TemplateError, match="partnership_name"):
        templates.render("reminder", {**SAMPLE_CONTEXT, "partnership_name": "Other"})


def test_a_missing_variable_raises(tmp_templates: Path) -> None:
    message(
        tmp_templates,
        "strict",
        "{{ reference }}",
        "Due {{ deadline }}",
        "<p>{{ deadline }}</p>",
    )
    t = Templates(tmp_templates, PARTNERSHIP)
    context = {k: v for k, v in SAMPLE_CONTEXT.items() if k != "deadline"}
    with pytest.raises(TemplateError, match=r"strict\.txt\.j2.*deadline") as info:
        t.render("strict", context)
    assert isinstance(info.value.__cause__, jinja2.UndefinedError)
    # and a value that is there renders
    assert t.render("strict", SAMPLE_CONTEXT).text == "Due Mon 29 Dec 2025"


def test_a_missing_template_is_named(tmp_templates: Path) -> None:
    t = Templates(tmp_templates, PARTNERSHIP)
    with pytest.raises(TemplateError, match=r"nothing\.subject\.j2"):
        t.render("nothing", SAMPLE_CONTEXT)
    (tmp_templates / "ok.html.j2").unlink()
    with pytest.raises(TemplateError, match=r"ok\.html\.j2"):
        Templates(tmp_templates, PARTNERSHIP).render("ok", SAMPLE_CONTEXT)
    with pytest.raises(TemplateError, match="not a message name"):
        t.render("../ok", SAMPLE_CONTEXT)


def test_the_subject_is_one_line_and_capped(tmp_templates: Path) -> None:
    message(
        tmp_templates,
        "long",
        "  {{ reference }}:\n  line one\r\n line two {{ activity_type * 1 }}\n" + "x" * 300,
        "t",
        "h",
    )
    out = Templates(tmp_templates, PARTNERSHIP).render("long", SAMPLE_CONTEXT)
    assert out.subject.startswith("MAA-2026-001: line one line two Multi-agency")
    assert "\n" not in out.subject
    assert "\r" not in out.subject
    assert len(out.subject) == SUBJECT_MAX


def test_only_html_is_autoescaped(tmp_templates: Path) -> None:
    message(
        tmp_templates,
        "esc",
        "{{ activity_type }}",
        "{{ agency_name }}",
        "<p>{{ agency_name }}</p>",
    )
    context = {**SAMPLE_CONTEXT, "agency_name": "A & <B>", "activity_type": "C & <D>"}
    out = Templates(tmp_templates, PARTNERSHIP).render("esc", context)
    assert out.subject == "C & <D>"
    assert out.text == "A & <B>"
    assert "<p>A &amp; &lt;B&gt;</p>" in out.html


def test_the_partnership_name_is_added(tmp_templates: Path) -> None:
    out = Templates(tmp_templates, "Southshire SCP (fictional)").render("ok", SAMPLE_CONTEXT)
    assert "<p>Southshire SCP (fictional)</p>" in out.html


def test_templates_cannot_reach_python(tmp_templates: Path) -> None:
    message(tmp_templates, "sneaky", "{{ reference }}", "{{ reference.__class__ }}", "<p></p>")
    message(tmp_templates, "globals", "{{ reference }}", "{{ range(3) }}", "<p></p>")
    t = Templates(tmp_templates, PARTNERSHIP)
    with pytest.raises(TemplateError, match=r"sneaky\.txt\.j2"):
        t.render("sneaky", SAMPLE_CONTEXT)
    with pytest.raises(TemplateError, match=r"globals\.txt\.j2.*range"):
        t.render("globals", SAMPLE_CONTEXT)


def test_a_link_must_be_http(templates: Templates) -> None:
    with pytest.raises(TemplateError, match="link"):
        templates.render("reminder", {**SAMPLE_CONTEXT, "link": "javascript:alert(1)"})


def test_names_leaves_out_layouts_and_partials(tmp_templates: Path) -> None:
    write(tmp_templates, {"_partial.subject.j2": "{{ reference }}", "notes.md": "not a template"})
    assert Templates(tmp_templates, PARTNERSHIP).names() == ["ok"]


# ---------------------------------------------------------------------------------------
# the check: every problem, one line each, naming the file


def test_the_check_passes_a_good_folder(tmp_templates: Path) -> None:
    assert Templates(tmp_templates, PARTNERSHIP).check(required=["ok"]) == []


def test_the_check_reports_a_name_outside_the_allow_list(tmp_templates: Path) -> None:
    message(
        tmp_templates,
        "leaky",
        "{{ reference }}",
        "Dear {{ recipient_name }}, about {{ child_name }}",
        "<p>{{ family_address }}</p>",
    )
    problems = Templates(tmp_templates, PARTNERSHIP).check()
    label = tmp_templates.as_posix()
    assert any(p.startswith(f"{label}/leaky.txt.j2: ") and "child_name" in p for p in problems), (
        problems
    )
    assert any(
        p.startswith(f"{label}/leaky.html.j2: ") and "family_address" in p for p in problems
    ), problems


def test_the_check_follows_includes_and_layouts(tmp_templates: Path) -> None:
    write(
        tmp_templates,
        {
            "_signature.txt.j2": "{{ officer_phone }}",
            "_other_layout.html.j2": "<html>{{ case_number }}{% block content %}{% endblock %}",
        },
    )
    message(tmp_templates, "incl", "{{ reference }}", '{% include "_signature.txt.j2" %}', "")
    problems = Templates(tmp_templates, PARTNERSHIP).check()
    assert any("_signature.txt.j2: " in p and "officer_phone" in p for p in problems), problems
    assert any("_other_layout.html.j2: " in p and "case_number" in p for p in problems)


def test_the_check_reports_a_subject_using_more_than_the_reference(tmp_templates: Path) -> None:
    message(tmp_templates, "open", "{{ reference }} for {{ agency_name }}", "t", "<p>h</p>")
    problems = Templates(tmp_templates, PARTNERSHIP).check()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_templates.as_posix()}/open.subject.j2: ")
    assert "agency_name" in problems[0]
    assert "travel in clear" in problems[0]


def test_the_check_reports_missing_files_and_required_messages(tmp_templates: Path) -> None:
    write(tmp_templates, {"half.subject.j2": "{{ reference }}", "orphan.txt.j2": "hello"})
    problems = Templates(tmp_templates, PARTNERSHIP).check(required=["ok", "absent"])
    label = tmp_templates.as_posix()
    assert f"{label}/half.txt.j2" in "\n".join(problems)
    assert f"{label}/half.html.j2" in "\n".join(problems)
    assert any(p.startswith(f"{label}/orphan.subject.j2: missing") for p in problems)
    assert any(p.startswith(f"{label}/absent.subject.j2: ") and "required" in p for p in problems)
    assert not any("/ok." in p for p in problems)


def test_the_check_wants_the_layout_in_html(tmp_templates: Path) -> None:
    write(
        tmp_templates,
        {
            "bare.subject.j2": "{{ reference }}",
            "bare.txt.j2": "t",
            "bare.html.j2": "<p>{{ link }}</p>",
        },
    )
    problems = Templates(tmp_templates, PARTNERSHIP).check()
    assert problems == [
        f'{tmp_templates.as_posix()}/bare.html.j2: must {{% extends "_layout.html.j2" %}}'
    ]


def test_the_check_renders_without_a_deadline(tmp_templates: Path) -> None:
    message(
        tmp_templates,
        "counting",
        "{{ reference }}",
        "{{ working_days_left + 1 }} days",
        "<p>ok</p>",
    )
    problems = Templates(tmp_templates, PARTNERSHIP).check()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_templates.as_posix()}/counting.txt.j2: ")
    assert "without a deadline" in problems[0]


def test_the_check_reports_syntax_errors_and_stray_files(tmp_templates: Path) -> None:
    write(tmp_templates, {"broken.subject.j2": "{{ reference ", "stray.j2": "x"})
    message(tmp_templates, "broken2", "{{ reference }}", "{% if %}", "<p></p>")
    problems = "\n".join(Templates(tmp_templates, PARTNERSHIP).check())
    label = tmp_templates.as_posix()
    assert f"{label}/broken.subject.j2: line 1: " in problems
    assert f"{label}/broken2.txt.j2: line 1: " in problems
    assert f"{label}/stray.j2: neither a message file" in problems


def test_the_check_reports_a_missing_folder(tmp_path: Path) -> None:
    assert Templates(tmp_path / "nope", PARTNERSHIP).check() == [
        f"{(tmp_path / 'nope').as_posix()}: template folder not found"
    ]


def test_the_check_reads_the_files_afresh(tmp_templates: Path) -> None:
    t = Templates(tmp_templates, PARTNERSHIP)
    t.render("ok", SAMPLE_CONTEXT)  # compiled and kept for rendering
    write(tmp_templates, {"ok.txt.j2": "{{ working_days_left + 1 }}"})
    problems = t.check()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_templates.as_posix()}/ok.txt.j2: fails to render")
