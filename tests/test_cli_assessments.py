"""``sef assessment``, ``sef judgements``, ``sef finding``, ``sef action`` and ``sef report``.

Every run goes through the real command line (click's CliRunner against ``sef_workflow.cli``)
on a real database: a fresh SQLite file and a fresh PostgreSQL schema. The CLI reads the
system clock, so dates are set relative to today. Every agency and answer is fictional.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from sef_workflow.calendar import format_period
from sef_workflow.reports.figures import reporting_year
from sef_workflow.reports.model import SECTION_TITLES

from .test_cli import COORD, FORMS, MANAGER, POL_DEPUTY, POL_LEAD, Cli, _agencies_file, _config
from .test_cli import answer_args as all_answers

ICB_LEAD = "lead@icb.northshire.example"
S11_QUESTIONS = [q.number for q in FORMS.get("section11").questions()]
#: the questions that must be rated before a Section 11 self-assessment is submitted
S11_REQUIRED = [q.number for q in FORMS.get("section11").questions() if q.required]
AUDIT_QUESTIONS = [q.number for q in FORMS.get("single_agency_audit").questions()]
JUDGEMENTS = [q.number for q in FORMS.get("maa_judgements").questions()]
TASK = re.compile(r"task (\d+): [^\n]*Northshire (\w+)")
FOUR_QUESTIONS = [SECTION_TITLES[k] for k in ("how_much", "how_well", "learn", "better_off")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI on an upgraded database (SQLite, then PostgreSQL) with the fictional agencies
    POL, ICB and CSC, a coordinator and a manager."""
    env = {"SEF_CONFIG": str(_config(tmp_path))}
    if request.param == "postgres":
        env["SEF_DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    run = Cli(env)
    run("db", "upgrade")
    run("agencies", "import", _agencies_file(tmp_path))
    run("staff", "add", "--name", "Casey Coord", "--email", COORD, "--role", "coordinator")
    run("staff", "add", "--name", "Morgan Manager", "--email", MANAGER, "--role", "manager")
    return run


def coord(cli: Cli, *args: str) -> str:
    return cli("--as", COORD, *args)


def tasks_by_agency(out: str) -> dict[str, int]:
    """{"Constabulary": 3, "ICB": 4, ...} from the task lines a command printed."""
    return {name: int(num) for num, name in TASK.findall(out)}


def open_cycle(cli: Cli, *agencies: str, cycle: str = "2026-28") -> tuple[str, dict[str, int]]:
    """A Section 11 cycle opened and its tool issued: its reference and each agency's task."""
    picked = [a for code in agencies for a in ("--agency", code)]
    out = coord(
        cli,
        "activity",
        "open",
        "section11",
        "--title",
        f"Section 11 cycle {cycle} (fictional)",
        *picked,
        "--input",
        f"cycle={cycle}",
    )
    m = re.match(r"(S11-\d{4}-\d{3}) opened:", out)
    assert m, out
    ref = m.group(1)
    return_date = (date.today() + timedelta(days=40)).isoformat()
    out = coord(cli, "activity", "fire", ref, "issue_tool", "--input", f"return_date={return_date}")
    tasks = tasks_by_agency(out)
    assert len(tasks) == len(agencies), out
    return ref, tasks


def open_audit(cli: Cli, *agencies: str) -> tuple[str, dict[str, int]]:
    """A themed audit with its audit tools issued."""
    picked = [a for code in agencies for a in ("--agency", code)]
    out = coord(
        cli,
        "activity",
        "open",
        "themed_audit",
        "--title",
        "Neglect themed audit (fictional)",
        *picked,
        "--input",
        "theme=Neglect",
    )
    ref = out.split()[0]
    coord(cli, "activity", "fire", ref, "sample_cases", "--input", "sample_size=2")
    tasks = tasks_by_agency(coord(cli, "activity", "fire", ref, "issue_audit_tools"))
    return ref, tasks


def assessments(cli: Cli, ref: str) -> dict[str, list[str]]:
    """``sef assessment list`` as {agency code or "-": [columns]} (the last per agency)."""
    rows = cli("assessment", "list", ref).splitlines()
    assert rows[0].split() == [
        "ID",
        "TASK",
        "AGENCY",
        "FORM",
        "STAGE",
        "STATUS",
        "RATED",
        "MODERATED",
        "DIFFER",
    ]
    # columns are aligned, and a form's title has spaces: cut each row where its header starts
    starts = [m.start() for m in re.finditer(r"\S+", rows[0])]
    cut = [
        [r[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)] for r in rows[1:]
    ]
    return {cells[2]: cells for cells in cut}


def answer_block(shown: str, number: str) -> str:
    """The lines of ``sef assessment show`` for one question."""
    m = re.search(
        rf"^  {re.escape(number)}  .*?(?=^  \S|^\S|\Z)", shown, flags=re.MULTILINE | re.DOTALL
    )
    assert m, (number, shown)
    return m.group(0)


# ----------------------------------------------------------------------------- Section 11


def test_section11_round(cli: Cli) -> None:
    ref, tasks = open_cycle(cli, "POL", "ICB")
    pol, icb = tasks["Constabulary"], tasks["ICB"]

    # the police answer part of the form and come back later
    out = cli(
        "--as",
        POL_LEAD,
        "assessment",
        "answer",
        str(pol),
        "--rating",
        "1.1=3",
        "--evidence",
        "1.1=Annual safeguarding report to the board (fictional)",
        "--rating",
        "1.2=2",
    )
    lines = out.splitlines()
    assert re.fullmatch(
        rf"task {pol} of {ref}: saved 2 answers \(assessment \d+, version 2\)", lines[0]
    )
    assert lines[1:3] == ["  1.1  3 – Exceeded; evidence given", "  1.2  2 – Met; no evidence"]
    # every required question but 1.1 (1.2 still needs its evidence)
    missing = len(S11_REQUIRED) - 1
    assert len(S11_REQUIRED) < len(S11_QUESTIONS)
    assert lines[3] == f"still needed before submitting ({missing}):"
    assert "  - Question 1.2 (standard 1): describe the evidence for the rating" in lines
    assert "  - Question 1.3 (standard 1): choose a rating" in lines
    assert "  - Question 1.1 (standard 1)" not in out

    shown = cli("--as", POL_LEAD, "assessment", "show", str(pol))
    assert shown.startswith(
        f"Section 11 organisational safeguarding assessment: {ref}, "
        "Northshire Constabulary (fictional) (POL)\n"
    )
    assert "  status: draft (answers can be changed)\n" in shown
    assert "  scale: 0–3 score; ratings: 0 (0 – Not met), 1 (1 – Partially met)," in shown
    assert "Standard 1: Senior management commitment and accountability\n" in shown
    first = answer_block(shown, "1.1")
    assert "rating: 3 – Exceeded\n" in first
    assert "evidence: Annual safeguarding report to the board (fictional)" in first
    assert "evidence: none given (required)" in answer_block(shown, "1.2")
    assert "rating: not rated" in answer_block(shown, "2.1")
    assert "carried forward" not in shown
    assert f"Needs attention before submitting ({missing}):" in shown

    # submitting now is refused with every question named, and nothing changes
    result = cli.run("--as", POL_LEAD, "assessment", "submit", str(pol), code=8)
    assert result.stdout == ""
    problems = result.stderr.splitlines()
    assert problems[0] == (
        "error: cannot submit the Section 11 organisational safeguarding assessment for task "
        f"{pol} of {ref}: {missing} answers need attention; nothing was changed"
    )
    assert len(problems) == 1 + missing
    for number in S11_REQUIRED[1:]:
        assert any(p.startswith(f"  - Question {number} (standard ") for p in problems), number
    assert cli("--as", POL_LEAD, "assessment", "show", str(pol)) == shown
    assert re.search(
        rf"^{pol}\s+{ref}\s+POL\s+Section 11 self-assessment\s+Requested\s",
        cli("task", "list"),
        re.MULTILINE,
    )

    # one agency cannot see or answer another's form
    line = cli.fails(7, "--as", ICB_LEAD, "assessment", "answer", str(pol), "--rating", "1.1=0")
    assert "belongs to another agency" in line
    cli.fails(7, "--as", ICB_LEAD, "assessment", "show", str(pol))

    # the rest, then submit; answers named again keep what was there unless changed
    cli(
        "--as",
        POL_DEPUTY,
        "assessment",
        "answer",
        str(pol),
        *all_answers("section11", "2", skip=("1.1", "1.2")),
        "--evidence",
        "1.2=Single-agency audit programme (fictional)",
    )
    shown = cli("--as", POL_LEAD, "assessment", "show", str(pol))
    assert "rating: 3 – Exceeded" in answer_block(shown, "1.1")
    kept = answer_block(shown, "1.2")  # evidence added, the rating given earlier kept
    assert "rating: 2 – Met\n" in kept
    assert "evidence: Single-agency audit programme (fictional)" in kept
    assert f"Complete: ready to submit (sef assessment submit {pol})" in shown
    version = re.search(r"^  assessment \d+, task \d+ \(Requested\); version (\d+)$", shown, re.M)
    assert version, shown
    out = cli(
        "--as", POL_LEAD, "assessment", "submit", str(pol), "--expected-version", version.group(1)
    )
    assert re.fullmatch(
        rf"task {pol} of {ref}: assessment \d+ submitted "
        rf"\({len(S11_QUESTIONS)} ratings\)\. Now: Submitted\n",
        out,
    )
    line = cli.fails(5, "--as", POL_LEAD, "assessment", "answer", str(pol), "--rating", "1.1=0")
    assert "its answers can no longer be changed" in line

    cli("--as", ICB_LEAD, "assessment", "answer", str(icb), *all_answers("section11", "2"))
    cli("--as", ICB_LEAD, "assessment", "submit", str(icb))
    for task_id in (pol, icb):
        coord(cli, "task", "fire", str(task_id), "accept")
    moderation = tasks_by_agency(coord(cli, "activity", "fire", ref, "start_moderation"))
    listed = assessments(cli, ref)
    total = len(S11_QUESTIONS)
    assert listed["POL"][5:] == ["Submitted", f"{total}/{total}", f"0/{total}", "0"]
    pol_a, icb_a = listed["POL"][0], listed["ICB"][0]

    # moderation: a different rating needs a reason; the same one does not
    line = cli.fails(8, "--as", COORD, "assessment", "moderate", pol_a, "--rating", "1.1=1")
    assert line == (
        f"error: moderating assessment {pol_a} of {ref}: question 1.1 (standard 1): give the "
        "reason the moderated rating (1) differs from the self rating (3); nothing was saved"
    )
    assert assessments(cli, ref)["POL"][7] == f"0/{total}"
    out = coord(
        cli,
        "assessment",
        "moderate",
        pol_a,
        "--rating",
        "1.1=1",
        "--reason",
        "1.1=No board report was seen at moderation (fictional)",
        "--rating",
        "1.2=2",
    )
    assert out == (
        f"assessment {pol_a} of {ref} (POL): 2 moderated ratings recorded; {total - 2} answers "
        "still to moderate, 1 differ from the self rating\n"
    )
    line = cli.fails(
        5, "--as", COORD, "task", "fire", str(moderation["Constabulary"]), "finish_moderation"
    )
    assert (
        f"{total - 2} answers of POL's Section 11 self-assessment still need a moderated rating"
        in line
    )
    cli.fails(7, "--as", POL_LEAD, "assessment", "moderate", pol_a, "--rating", "1.3=2")
    hidden = cli("--as", POL_LEAD, "assessment", "show", str(pol))
    assert "moderated:" not in hidden
    staff_view = coord(cli, "assessment", "show", str(pol))
    moderation_line = f"moderation: 2 of {total} answers moderated, 1 differ from the self rating"
    assert f"  {moderation_line}; not yet released to the agency\n" in staff_view
    assert "moderated: 1 – Partially met; reason: No board report was seen" in answer_block(
        staff_view, "1.1"
    )

    out = coord(cli, "assessment", "moderate", pol_a, "--agree-rest")
    assert f"{total - 2} moderated ratings recorded; 0 answers still to moderate" in out
    out = coord(
        cli,
        "assessment",
        "moderate",
        icb_a,
        "--agree-rest",
        "--rating",
        "2.1=3",
        "--reason",
        "2.1=Statement seen in every team's induction pack (fictional)",
    )
    assert f"{total} moderated ratings recorded; 0 answers still to moderate, 1 differ" in out

    # the challenge-event list
    table = cli("assessment", "disagreements", ref).splitlines()
    assert table[0].split() == [
        "AGENCY",
        "QUESTION",
        "STANDARD",
        "SELF",
        "MODERATED",
        "DIFF",
        "REASON",
    ]
    assert re.fullmatch(
        r"POL\s+1\.1\s+1\s+3 – Exceeded\s+1 – Partially met\s+-2\s+No board report was seen at "
        r"moderation \(fictional\)",
        table[1],
    )
    assert re.fullmatch(
        r"ICB\s+2\.1\s+2\s+2 – Met\s+3 – Exceeded\s+\+1\s+Statement seen .*", table[2]
    )
    assert len(table) == 3
    rows = list(csv.DictReader(io.StringIO(cli("assessment", "disagreements", ref, "--csv"))))
    assert [(r["Agency code"], r["Question"], r["Difference"]) for r in rows] == [
        ("POL", "1.1", "-2"),
        ("ICB", "2.1", "1"),
    ]
    assert rows[0]["Self rating"] == "3 – Exceeded"
    assert rows[0]["Moderated rating"] == "1 – Partially met"
    assert rows[1]["Reason"] == "Statement seen in every team's induction pack (fictional)"
    assert rows[0]["Question text"].startswith("Senior managers have clear responsibility")

    # finishing moderation releases the moderated ratings to the agency, and freezes them
    for task_id in moderation.values():
        coord(cli, "task", "fire", str(task_id), "finish_moderation")
    released = cli("--as", POL_LEAD, "assessment", "show", str(pol))
    assert "  moderation: finished; the moderated ratings are shown below\n" in released
    block = answer_block(released, "1.1")
    assert "rating: 3 – Exceeded" in block
    assert "moderated: 1 – Partially met; reason: No board report was seen at moderation" in block
    assert "moderated: 2 – Met" in answer_block(released, "1.2")
    assert "Needs attention" not in released
    line = cli.fails(5, "--as", COORD, "assessment", "moderate", pol_a, "--rating", "1.1=2")
    assert "is finished and released to the agency" in line
    assert f"assessment {pol_a}" in coord(cli, "assessment", "show", "--assessment", pol_a)


def test_second_cycle_carries_answers_forward_until_reviewed(cli: Cli) -> None:
    first, tasks = open_cycle(cli, "POL", cycle="2024-26")
    cli(
        "--as",
        POL_LEAD,
        "assessment",
        "answer",
        str(tasks["Constabulary"]),
        *all_answers("section11", "1"),
    )
    cli("--as", POL_LEAD, "assessment", "submit", str(tasks["Constabulary"]))

    second, tasks = open_cycle(cli, "POL", cycle="2026-28")
    task = str(tasks["Constabulary"])
    total = len(S11_QUESTIONS)
    shown = cli("--as", POL_LEAD, "assessment", "show", task)
    assert f"  carried forward from {first}: {total} answers not yet reviewed\n" in shown
    assert shown.count("[carried forward, not yet reviewed]") == total
    block = answer_block(shown, "3.1")
    assert "rating: 1 – Partially met  [carried forward, not yet reviewed]" in block
    assert "evidence: Evidence held by the agency (fictional)." in block

    result = cli.run("--as", POL_LEAD, "assessment", "submit", task, code=8)
    problems = result.stderr.splitlines()[1:]
    assert len(problems) == total
    assert all(
        p.endswith(
            "carried forward from the last cycle and not yet reviewed: confirm it still "
            "holds or change it"
        )
        for p in problems
    )

    # confirm all but two; change one (a change counts as reviewed); one left unreviewed
    reviewed = [a for n in S11_QUESTIONS[:-2] for a in ("--reviewed", n)]
    out = cli(
        "--as",
        POL_LEAD,
        "assessment",
        "answer",
        task,
        *reviewed,
        "--rating",
        f"{S11_QUESTIONS[-2]}=2",
    )
    assert out.splitlines()[0].startswith(f"task {task} of {second}: saved {total - 1} answers")
    assert f"  {S11_QUESTIONS[-2]}  2 – Met; evidence given" in out
    last = FORMS.get("section11").question(S11_QUESTIONS[-1])
    assert out.endswith(
        f"still needed before submitting (1):\n  - Question {last.number} (standard "
        f"{last.standard}): carried forward from the last cycle and not yet reviewed: confirm "
        "it still holds or change it\n"
    )
    shown = cli("--as", POL_LEAD, "assessment", "show", task)
    assert shown.count("[carried forward, reviewed]") == total - 1
    assert shown.count("[carried forward, not yet reviewed]") == 1
    assert f"  carried forward from {first}: 1 answer not yet reviewed\n" in shown
    cli.run("--as", POL_LEAD, "assessment", "submit", task, code=8)

    cli("--as", POL_LEAD, "assessment", "answer", task, "--reviewed", S11_QUESTIONS[-1])
    out = cli("--as", POL_LEAD, "assessment", "submit", task)
    assert f"task {task} of {second}: assessment " in out
    assert out.endswith(". Now: Submitted\n")


# ----------------------------------------------------------------------------- bad input


def test_bad_answers_exit_non_zero_and_change_nothing(cli: Cli) -> None:
    ref, tasks = open_cycle(cli, "POL")
    task = str(tasks["Constabulary"])
    cli("--as", POL_LEAD, "assessment", "answer", task, "--rating", "1.1=2")
    before = cli("--as", POL_LEAD, "assessment", "show", task)
    assert "version 2" in before

    answer = ("--as", POL_LEAD, "assessment", "answer", task)
    line = cli.fails(8, *answer, "--rating", "9.9=2", "--rating", "1.2=2")
    assert line == (
        f"error: answers for task {task} (s11_return) of {ref}: no question '9.9' in form "
        "'section11'; nothing was saved"
    )
    line = cli.fails(8, *answer, "--rating", "1.2=green")
    assert "question 1.2 (standard 1): 'green' is not a rating on the 0–3 score scale" in line
    assert "(allowed: 0, 1, 2, 3); nothing was saved" in line
    # a good answer beside an unknown question is not saved either
    line = cli.fails(8, *answer, "--rating", "1.3=2", "--reviewed", "nope")
    assert "no question 'nope'" in line
    line = cli.fails(6, *answer, "--rating", "1.3=2", "--expected-version", "1")
    assert "changed by someone else since version 1" in line
    line = cli.fails(6, "--as", POL_LEAD, "assessment", "submit", task, "--expected-version", "1")
    assert "changed by someone else since version 1" in line
    result = cli.run(*answer, "--rating", "1.3", code=2)
    assert "expected QUESTION=KEY" in result.stderr
    result = cli.run(*answer, "--rating", "1.3=1", "--rating", "1.3=2", code=2)
    assert "question '1.3' is given twice" in result.stderr
    result = cli.run(*answer, code=2)
    assert "give at least one --rating" in result.stderr
    cli.fails(4, "--as", POL_LEAD, "assessment", "show", "9999")
    assert cli("--as", POL_LEAD, "assessment", "show", task) == before

    # a question that takes no evidence refuses evidence (single-agency audit tool, impact.2)
    audit, audit_tasks = open_audit(cli, "POL")
    audit_task = str(audit_tasks["Constabulary"])
    line = cli.fails(
        8, "--as", POL_LEAD, "assessment", "answer", audit_task, "--evidence", "impact.2=Text"
    )
    assert "question impact.2 (standard impact) takes no evidence; nothing was saved" in line
    assert assessments(cli, audit)["POL"][5:7] == ["Draft", f"0/{len(AUDIT_QUESTIONS)}"]


# ----------------------------------------------------------------------------- meetings, findings


def test_judgements_findings_and_actions(cli: Cli) -> None:
    ref, tasks = open_audit(cli, "POL", "ICB")
    for code, lead in (("Constabulary", POL_LEAD), ("ICB", ICB_LEAD)):
        cli(
            "--as",
            lead,
            "assessment",
            "answer",
            str(tasks[code]),
            *all_answers("single_agency_audit"),
        )
        cli("--as", lead, "assessment", "submit", str(tasks[code]))
        coord(cli, "task", "fire", str(tasks[code]), "accept")
    meeting = (date.today() + timedelta(days=7)).isoformat()
    coord(cli, "activity", "fire", ref, "convene_meeting", "--input", f"meeting_date={meeting}")

    # the meeting's judgements: every one is needed, and nothing is kept until they are there
    line = cli.fails(8, "--as", COORD, "judgements", "record", ref, "--rating", "recognition=good")
    assert line.startswith(f"error: cannot record 'record_judgements' on {ref}: ")
    assert "Question overall_quality (standard judgements): choose a rating" in line
    line = cli.fails(
        8,
        "--as",
        COORD,
        "judgements",
        "record",
        ref,
        *all_answers("maa_judgements", skip=("impact",)),
        "--rating",
        "impact=superb",
    )
    assert "'superb' is not a rating on the Ofsted four-point judgement scale" in line
    assert "state: Audit meeting;" in cli("activity", "show", ref)
    assert "-" not in assessments(cli, ref)
    ratings = dict(
        zip(
            JUDGEMENTS,
            ["good", "requires_improvement", "good", "good", "outstanding", "good"],
            strict=True,
        )
    )
    out = coord(
        cli,
        "judgements",
        "record",
        ref,
        *(a for n, r in ratings.items() for a in ("--rating", f"{n}={r}")),
        "--evidence",
        "impact=The child now attends school every day (fictional)",
    )
    assert out.startswith(f"{ref}: Record the meeting's judgements. Now: Findings report\n")
    m = re.search(r"judgements recorded: assessment (\d+) \(6 ratings\)", out)
    assert m, out
    judged = assessments(cli, ref)["-"]
    assert judged[0] == m.group(1)
    assert judged[3:7] == [
        "Multi-agency audit meeting judgements",
        "first audit",
        "Submitted",
        "6/6",
    ]
    shown = coord(cli, "assessment", "show", "--assessment", m.group(1))
    assert shown.startswith(f"Multi-agency audit meeting judgements: {ref}, the partnership\n")
    assert "rating: Requires improvement" in answer_block(shown, "assessment")
    assert "evidence: The child now attends school every day" in answer_block(shown, "impact")

    # findings and recommendations
    out = coord(
        cli,
        "finding",
        "add",
        ref,
        "--kind",
        "finding",
        "--text",
        "Strategy discussions were not always recorded (fictional)",
    )
    found = re.fullmatch(rf"finding (\d+) recorded on {ref}\n", out)
    assert found, out
    out = coord(
        cli,
        "finding",
        "add",
        ref.lower(),
        "--kind",
        "recommendation",
        "--text",
        "Record the outcome of every strategy discussion (fictional)",
        "--agency",
        "pol",
    )
    recommended = re.fullmatch(rf"recommendation (\d+) recorded on {ref} for POL\n", out)
    assert recommended, out
    line = cli.fails(7, *_as(POL_LEAD), "finding", "add", ref, "--kind", "finding", "--text", "x")
    assert "may not record findings" in line
    assert "has no text" in cli.fails(
        8, *_as(COORD), "finding", "add", ref, "--kind", "finding", "--text", " "
    )
    cli.fails(
        4, *_as(COORD), "finding", "add", ref, "--kind", "finding", "--text", "x", "--agency", "ZZZ"
    )
    result = cli.run(*_as(COORD), "finding", "add", ref, "--kind", "hunch", "--text", "x", code=2)
    assert "'hunch' is not one of 'finding', 'recommendation'" in result.stderr

    # actions: answering a recommendation, and raised from an audit question
    target = (date.today() + timedelta(days=90)).isoformat()
    action_inputs = [
        "--input",
        "description=Audit strategy discussion records quarterly (fictional)",
        "--input",
        "lead_name=Lead Police",
        "--input",
        f"target_date={target}",
    ]
    before = cli("finding", "list", ref)
    line = cli.fails(
        8,
        *_as(COORD),
        "action",
        "raise",
        ref,
        "--agency",
        "POL",
        "--input",
        "description=x",
        "--input",
        "lead_name=y",
        "--input",
        "target_date=2027-02-30",
    )
    assert "input 'target_date': '2027-02-30' is not a date (YYYY-MM-DD)" in line
    assert cli("finding", "list", ref) == before
    assert "AP-" not in cli("activity", "list")

    out = coord(
        cli,
        "action",
        "raise",
        ref,
        "--agency",
        "POL",
        *action_inputs,
        "--finding",
        recommended.group(1),
    )
    first_action = re.match(
        r"action task (\d+) in (AP-\d{4}-\d{3}): Action: Northshire Constabulary", out
    )
    assert first_action, out
    plan = first_action.group(2)
    assert f"  answers finding {recommended.group(1)}\n" in out

    audit_assessment = assessments(cli, ref)["ICB"][0]
    out = coord(
        cli,
        "action",
        "raise",
        ref,
        "--question",
        f"{audit_assessment}:joint_working.1",
        *action_inputs[2:],
        "--input",
        "description=Attend every strategy discussion (fictional)",
    )
    second_action = re.match(rf"action task (\d+) in {plan}: Action: Northshire ICB", out)
    assert second_action, out

    listing = cli("finding", "list", ref).splitlines()
    assert listing[0].split() == ["ID", "KIND", "AGENCY", "QUESTION", "ACTIONS", "TEXT"]
    rows = {ln.split()[0]: ln for ln in listing[1:]}
    assert len(rows) == 3
    assert re.match(r"\d+\s+Finding\s+-\s+-\s+-\s+Strategy discussions", rows[found.group(1)])
    assert re.match(
        rf"\d+\s+Recommendation\s+POL\s+-\s+{first_action.group(1)} \(In progress\)\s+Record the",
        rows[recommended.group(1)],
    )
    from_question = next(
        r for k, r in rows.items() if k not in (found.group(1), recommended.group(1))
    )
    assert re.match(
        rf"\d+\s+Recommendation\s+ICB\s+single_agency_audit joint_working\.1\s+"
        rf"{second_action.group(1)} \(In progress\)\s+"
        r"Single-agency audit tool, question joint_working\.1: ",
        from_question,
    )
    assert len(cli("task", "list", "--activity", plan, "--kind", "action").splitlines()) == 3

    # refusals: an unknown question, another activity's assessment, both sources, no agency
    line = cli.fails(
        4,
        *_as(COORD),
        "action",
        "raise",
        ref,
        "--question",
        f"{audit_assessment}:9.9",
        *action_inputs,
    )
    assert line == "error: no question '9.9' in form 'single_agency_audit'"
    other, _ = open_cycle(cli, "CSC")
    line = cli.fails(
        8,
        *_as(COORD),
        "action",
        "raise",
        other,
        "--question",
        f"{audit_assessment}:voice.1",
        *action_inputs,
    )
    assert line == f"error: assessment {audit_assessment} belongs to {ref}, not {other}"
    cli.run(
        *_as(COORD), "action", "raise", ref, "--finding", "1", "--question", "1:voice.1", code=2
    )
    cli.run(*_as(COORD), "action", "raise", ref, *action_inputs, code=2)
    cli.run(*_as(COORD), "action", "raise", ref, "--question", "voice.1", *action_inputs, code=2)
    assert len(cli("finding", "list", ref).splitlines()) == 4


def _as(email: str) -> tuple[str, str]:
    return ("--as", email)


# ----------------------------------------------------------------------------- the report


def _london_today() -> date:
    return datetime.now(ZoneInfo("Europe/London")).date()


def _text_row(text: str, title: str, first: str) -> list[str]:
    """The cells of the row starting with ``first`` in the table called ``title`` of the text
    report (cells are separated by two or more spaces)."""
    part = text.split(f"\n{title}\n{'-' * len(title)}\n", 1)[1].split("\n\n", 1)[0]
    for line in part.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in {title!r}:\n{part}")


def test_report_in_every_format(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref, tasks = open_audit(cli, "POL", "ICB")
    pol = str(tasks["Constabulary"])
    cli("--as", POL_LEAD, "assessment", "answer", pol, *all_answers("single_agency_audit"))
    cli("--as", POL_LEAD, "assessment", "submit", pol)
    coord(
        cli, "finding", "add", ref, "--kind", "finding", "--text", "Drift in planning (fictional)"
    )
    cycle, _ = open_cycle(cli, "CSC")

    start, end = reporting_year(_london_today(), 4)
    text = cli("report")
    assert text.startswith(
        f"The four questions: {format_period(start, end)}\n"
        "Northshire Safeguarding Children Partnership"
    )
    assert f"\nPeriod: {format_period(start, end)}; generated " in text
    for title in [*FOUR_QUESTIONS, SECTION_TITLES["section11"]]:
        assert f"\n{title}\n{'=' * len(title)}\n" in text
    audits = _text_row(text, "Activities by type", "Multi-agency themed audit")
    assert audits == ["Multi-agency themed audit", "1", "0", "0", "1"]
    assert _text_row(text, "Activities by type", "Section 11 cycle") == [
        "Section 11 cycle",
        "1",
        "0",
        "0",
        "1",
    ]
    assert _text_row(text, "Activities by type", "Total") == ["Total", "2", "0", "0", "2"]
    requests = _text_row(text, "Requests to agencies", "Northshire Constabulary (fictional)")
    assert requests[1:] == ["1", "1"]
    assert _text_row(text, "Findings and recommendations", "Multi-agency themed audit")[1:3] == [
        "1",
        "0",
    ]

    # the same figures in the CSV, on standard output and in a file
    rows = list(csv.reader(io.StringIO(cli("report", "--format", "csv"))))
    assert rows[0] == ["Report", f"The four questions: {format_period(start, end)}"]
    assert ["Period (YYYY-MM-DD)", start.isoformat(), end.isoformat()] in rows
    assert ["Multi-agency themed audit", "1", "0", "0", "1"] in rows
    out = cli("report", "--output", str(tmp_path / "r.csv"))
    assert out.splitlines()[0].startswith("report ")
    assert [ln.strip() for ln in out.splitlines()[1:6]] == [
        f"{t} ({n} {'table' if n == 1 else 'tables'})"
        for t, n in zip(
            [*FOUR_QUESTIONS, SECTION_TITLES["section11"]], _section_sizes(text), strict=True
        )
    ]
    assert re.fullmatch(
        rf"{re.escape(str(tmp_path / 'r.csv'))}: csv, \d+ tables, [\d,]+ bytes",
        out.splitlines()[-1],
    )
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as f:
        from_file = list(csv.reader(f))
    assert ["Multi-agency themed audit", "1", "0", "0", "1"] in from_file

    # the workbook: the Activities sheet holds the numbers the text showed
    monkeypatch.chdir(tmp_path)
    out = cli("report", "--format", "xlsx")
    default = tmp_path / f"four-questions-{start.isoformat()}-to-{end.isoformat()}.xlsx"
    assert out.splitlines()[-1].startswith(f"{default.name}: xlsx, ")
    book = load_workbook(default)
    assert book.sheetnames[0] == "Contents"
    (sheet,) = [ws for ws in book.worksheets if ws["A1"].value == "Activities by type"]
    found = [
        list(row)
        for row in sheet.iter_rows(min_row=2, values_only=True)
        if row and row[0] == "Multi-agency themed audit"
    ]
    assert len(found) == 1
    assert [str(v) for v in found[0][:5]] == audits
    assert isinstance(found[0][1], int)

    # the annual data pack
    out = cli(
        "report", "--year", str(start.year), "--cycle", cycle.lower(), "--output", "pack.html"
    )
    assert f", Section 11 cycle {cycle}" in out.splitlines()[0]
    page = (tmp_path / "pack.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    for title in FOUR_QUESTIONS:
        assert html.escape(title) in page
    assert "Northshire Safeguarding Children Partnership" in page

    # an existing file is kept unless --force
    kept = default.read_bytes()
    line = cli.fails(8, "report", "--format", "xlsx")
    assert line == f"error: {default.name} already exists: use --force to replace it"
    assert default.read_bytes() == kept
    assert cli.fails(8, "report", "--output", "pack.html").endswith("use --force to replace it")
    out = cli("report", "--output", "pack.html", "--format", "text", "--force")
    assert (tmp_path / "pack.html").read_text(encoding="utf-8").startswith("The four questions: ")
    assert not list(tmp_path.glob("*.part"))


def _section_sizes(text: str) -> list[int]:
    """How many tables each section of the text report holds (titles underlined with '-')."""
    sizes: list[int] = []
    for part in re.split(r"\n=+\n[^\n]+\n=+\n", text)[1:]:
        sizes.append(len(re.findall(r"\n([^\n]+)\n-+\n", part)))
    return sizes


def test_report_periods_and_bad_input(cli: Cli, tmp_path: Path) -> None:
    out = cli("report", "--year", "2025")
    assert out.startswith("The four questions: 1 April 2025 to 31 March 2026\n")
    out = cli("report", "--from", "2026-01-01", "--to", "2026-03-31", "--format", "csv")
    assert next(csv.reader(io.StringIO(out)))[1] == (
        "The four questions: 1 January 2026 to 31 March 2026"
    )

    target = tmp_path / "never.xlsx"
    missing = tmp_path / "missing" / "r.csv"
    bad: list[tuple[list[str], str]] = [
        (["--from", "2026-13-01", "--to", "2026-12-31"], "--from '2026-13-01': not a date"),
        (["--from", "2026-01-01", "--to", "31/12/2026"], "--to '31/12/2026': not a date"),
        (
            ["--from", "2026-12-01", "--to", "2026-01-01"],
            "The report period ends on 1 January 2026, before it starts on 1 December 2026",
        ),
        (["--from", "2026-01-01"], "give both --from and --to (or --year for a reporting year)"),
        (["--year", "2026", "--to", "2026-12-31"], "give either --from and --to, or --year"),
        (["--year", "twenty"], "--year 'twenty': expected a year such as 2026"),
        (["--cycle", "S11-2099-001"], "no Section 11 cycle with the reference 'S11-2099-001'"),
    ]
    for args, expected in bad:
        line = cli.fails(8, "report", *args, "--output", str(target))
        assert line.startswith("error: ")
        assert expected in line, (args, line)
    line = cli.fails(8, "report", "--output", str(missing))
    assert line == f"error: {missing}: folder {missing.parent} does not exist"
    assert not target.exists()
    assert not missing.parent.exists()
    assert not list(tmp_path.glob("*.part"))
