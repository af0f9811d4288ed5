"""The ``sef`` command: help, exit codes with one line on stderr, and the coordinators' flows.

Most runs go through click's CliRunner against ``sef_workflow.cli.main`` (in-process, real
database); a few run the installed ``sef`` script and ``python -m sef_workflow.cli``.
The CLI reads the system clock, so dates are checked relative to what it printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import click
import pytest
from click.testing import CliRunner, Result

import sef_workflow.app
from sef_workflow.assessments import fill
from sef_workflow.calendar import WorkingCalendar, format_date, format_deadline_date
from sef_workflow.cli import main
from sef_workflow.config import SECRETS
from sef_workflow.db import Database
from sef_workflow.forms import FormRegistry

from .conftest import ROOT, WORKFLOWS
from .smtpd import ScriptedSmtpServer

COORD = "coord@northshire-scp.example"
MANAGER = "manager@northshire-scp.example"
POL_LEAD = "lead@police.northshire.example"
POL_DEPUTY = "deputy@police.northshire.example"

AGENCIES_CSV = """\
code,name,sector,lead_name,lead_email,deputy_name,deputy_email,manager_name,manager_email
POL,Northshire Constabulary (fictional),police,Lead Police,lead@police.northshire.example,Deputy Police,deputy@police.northshire.example,Chief Police,chief@police.northshire.example
ICB,Northshire ICB (fictional),health,Lead Health,lead@icb.northshire.example,,,Chief Health,chief@icb.northshire.example
CSC,Northshire Children's Services (fictional),local_authority,Lead Council,lead@csc.northshire.example,,,Director Council,director@csc.northshire.example
"""

COMMANDS = [
    "db",
    "config",
    "templates",
    "agencies",
    "staff",
    "directory",
    "workflows",
    "activity",
    "task",
    "inbox",
    "outbox",
    "mail",
    "evidence-pack",
    "forms",
    "assessment",
    "judgements",
    "finding",
    "action",
    "report",
    "worker",
    "sweep",
    "status",
    "serve",
    "simulate",
    "demo",
]
WORKFLOW_NAMES = ["action_plan", "agency_request", "practice_review", "section11", "themed_audit"]
DUE = re.compile(r"due (\w+day \d{1,2} \w+ \d{4})")


def sh(command: str) -> list[str]:
    """Arguments as a shell would split them."""
    return shlex.split(command)


FORMS = FormRegistry(ROOT / "forms")


def answer_args(
    form_name: str, rating: str | None = None, scale: str | None = None, skip: Iterable[str] = ()
) -> list[str]:
    """``sef assessment answer`` options answering every question of a shipped form but
    ``skip``: the ``fill`` helper's answers (``rating`` everywhere, evidence where the
    question takes it)."""
    form = FORMS.get(form_name)
    args: list[str] = []
    for number, answer in fill(form, FORMS.scale(scale or form.scale), rating).items():
        if number in skip:
            continue
        args += ["--rating", f"{number}={answer.rating}"]
        if answer.evidence:
            args += ["--evidence", f"{number}={answer.evidence}"]
    return args


class Cli:
    """Runs ``sef`` in-process with a clean SEF_* environment; disposes every engine it built."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str | None]:
        keep = ("SEF_TEST_", "SEF_REQUIRE_")
        env: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith("SEF_") and not k.startswith(keep)
        }
        env.update(self.env)
        env.update(extra or {})
        return env

    def run(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
        apps: list[Any] = []
        real_build = sef_workflow.app.build

        def tracking_build(*a: Any, **kw: Any) -> Any:
            app = real_build(*a, **kw)
            apps.append(app)
            return app

        try:
            with mock.patch.object(sef_workflow.app, "build", tracking_build):
                result = CliRunner().invoke(
                    main, list(args), env=self.environment(env), prog_name="sef"
                )
        finally:
            for app in apps:
                app.db.dispose()
        detail = f"sef {' '.join(args)} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            detail += f"\n{result.exception!r}"
        assert result.exit_code == code, detail
        return result

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must succeed; its stdout."""
        return self.run(*args, env=env).stdout

    def fails(self, code: int, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must fail with ``code`` and one 'error:' line; that line."""
        result = self.run(*args, code=code, env=env)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
        return lines[0]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "sef.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "sef.db"}"\n'
        f'[workflows]\ndirectory = "{WORKFLOWS}"\ntemplates = "{WORKFLOWS.parent / "notifications"}"\n'
        f'forms = "{WORKFLOWS.parent / "forms"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI on a temporary config file and an empty SQLite database."""
    return Cli({"SEF_CONFIG": str(_config(tmp_path))})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """The CLI on an empty SQLite database, and on an empty PostgreSQL schema."""
    env = {"SEF_CONFIG": str(_config(tmp_path))}
    if request.param == "postgres":
        env["SEF_DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    return Cli(env)


def _agencies_file(tmp_path: Path, text: str = AGENCIES_CSV) -> str:
    path = tmp_path / "agencies.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _setup(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    cli("agencies", "import", _agencies_file(tmp_path))
    cli("staff", "add", "--name", "Casey Coord", "--email", COORD, "--role", "coordinator")
    cli("staff", "add", "--name", "Morgan Manager", "--email", MANAGER, "--role", "manager")


def _open_audit(cli: Cli, *agencies: str) -> str:
    args = [a for code in agencies for a in ("--agency", code)]
    out = cli(
        "--as",
        COORD,
        "activity",
        "open",
        "themed_audit",
        "--title",
        "Neglect themed audit (fictional)",
        *args,
        "--input",
        "theme=Neglect",
    )
    m = re.match(
        r"(MAA-\d{4}-\d{3}) opened: Neglect themed audit \(fictional\)\. Now: Planning", out
    )
    assert m, out
    return m.group(1)


@pytest.fixture
def ready(cli: Cli, tmp_path: Path) -> tuple[Cli, str]:
    """An upgraded SQLite database with agencies, staff and one audit in 'planning'."""
    _setup(cli, tmp_path)
    return cli, _open_audit(cli, "POL", "ICB")


# ----------------------------------------------------------------------------- help


def _walk(group: click.Group, path: list[str]) -> Iterator[list[str]]:
    for name, command in sorted(group.commands.items()):
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from _walk(command, [*path, name])


def test_help_lists_every_command(cli: Cli) -> None:
    out = cli("--help")
    assert "Usage: sef [OPTIONS] COMMAND [ARGS]..." in out
    commands = out.split("Commands:\n")[1].split("\n\n")[0]
    listed = re.findall(r"^  ([a-z-]+)\s", commands, flags=re.MULTILINE)
    assert sorted(listed) == sorted(COMMANDS)
    assert "Exit codes:" in out
    assert "--as EMAIL" in out


def test_every_subcommand_has_help(cli: Cli) -> None:
    paths = list(_walk(main, []))
    assert ["task", "waive"] in paths
    assert ["activity", "add-task"] in paths
    assert len(paths) > 25
    for path in paths:
        out = cli(*path, "--help")
        assert out.startswith(f"Usage: sef {' '.join(path)}"), (path, out)
        assert "--help" in out


def test_version(cli: Cli) -> None:
    assert re.match(r"sef, version \d+\.\d+", cli("--version"))


def test_installed_script_help() -> None:
    """The real console script, as installed in the venv."""
    script = Path(sys.executable).parent / "sef"
    assert script.is_file(), f"{script} missing: is the package installed in this venv?"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEF_")}
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert re.search(rf"^  {command}\s", done.stdout, flags=re.MULTILINE), command


def test_module_entry_point_reports_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nurll = "sqlite:///x.db"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEF_")}
    env["SEF_CONFIG"] = str(bad)
    done = subprocess.run(
        [sys.executable, "-m", "sef_workflow.cli", "config", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"error: {bad}: unknown key 'database.urll' (allowed in [database]: url,"
    )


# ----------------------------------------------------------------------------- errors


def test_bad_config_exits_3(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nbusy_timeout_ms = "soon"\n', encoding="utf-8")
    line = cli.fails(3, "--config", str(bad), "activity", "list")
    assert line.startswith(f"error: {bad}: key 'database.busy_timeout_ms'")
    assert "allowed: integer" in line
    line = cli.fails(3, "activity", "list", env={"SEF_CONFIG": str(bad)})
    assert f"{bad}: key 'database.busy_timeout_ms'" in line
    missing = tmp_path / "missing.toml"
    line = cli.fails(3, "--config", str(missing), "config", "check")
    assert line == f"error: {missing}: config file not found (set SEF_CONFIG to an existing file)"
    line = cli.fails(3, "config", "check", env={"SEF_DATABASE_ECHO": "perhaps"})
    assert line == "error: environment: SEF_DATABASE_ECHO='perhaps': expected true or false"


def test_bad_workflow_parameter_in_config_exits_3(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write('[workflow_parameters.practice_review]\nrapid_review_basis = "later"\n')
    cli = Cli({"SEF_CONFIG": str(path)})
    line = cli.fails(3, "config", "check")
    assert line.startswith(
        f"error: {path}: key 'workflow_parameters.practice_review.rapid_review_basis'"
    )
    assert "allowed: awareness, notification" in line


def test_schema_not_upgraded_exits_3_with_hint(cli: Cli) -> None:
    assert "needs: sef db upgrade" in cli("db", "current")
    for args in (("activity", "list"), ("agencies", "list"), ("task", "list")):
        line = cli.fails(3, *args)
        assert "is at schema (empty)" in line
        assert "run 'sef db upgrade'" in line


def test_error_exit_codes(ready: tuple[Cli, str]) -> None:
    cli, ref = ready
    year = ref.split("-")[1]

    # 4: not found
    line = cli.fails(4, "activity", "show", f"MAA-{year}-999")
    assert line == f"error: no activity with reference MAA-{year}-999"
    assert "no task with id 999" in cli.fails(
        4, "--as", COORD, "task", "extend", "999", "--by", "1", "--reason", "r"
    )
    assert "no workflow named 'nope'" in cli.fails(4, "workflows", "show", "nope")
    line = cli.fails(4, "--as", "stranger@elsewhere.example", "activity", "fire", ref, "cancel")
    assert "stranger@elsewhere.example is neither staff nor one of an agency's people" in line

    # 5: trigger not allowed in this state; names the state and what is allowed
    line = cli.fails(5, "--as", COORD, "activity", "fire", ref, "close")
    assert line == (
        f"error: cannot fire 'close' on {ref} in state 'planning'; "
        "allowed: sample_cases, raise_concern, cancel"
    )
    line = cli.fails(5, "--as", COORD, "activity", "fire", ref, "fly")
    assert "'fly' (no such trigger)" in line

    # 7: permission denied
    line = cli.fails(
        7, *sh(f"--as {POL_LEAD} activity fire {ref} sample_cases --input sample_size=3")
    )
    assert "agency lead@police.northshire.example may not fire 'sample_cases'" in line
    assert "(allowed: coordinator)" in line
    line = cli.fails(
        7, *sh(f"--as {MANAGER} staff add --name X --email x@scp.example --role admin")
    )
    assert "may not change staff" in line

    # 8: invalid input
    line = cli.fails(
        8, *sh(f"--as {COORD} activity fire {ref} sample_cases --input sample_size=lots")
    )
    assert "input 'sample_size'" in line
    assert "'lots'" in line
    line = cli.fails(8, *sh(f"--as {COORD} activity open themed_audit --title Audit --agency POL"))
    assert "missing required input theme" in line
    cli.fails(8, "staff", "add", "--name", "X", "--email", "not-an-address", "--role", "manager")

    # nothing above changed the activity
    assert "state: Planning; version 1" in cli("activity", "show", ref)

    # 2: usage, from click
    result = cli.run("activity", "fire", ref, "sample_cases", "--input", "sample_size=3", code=2)
    assert "Error: say who is acting: --as EMAIL" in result.stderr
    assert result.stdout == ""
    result = cli.run(
        *sh(f"--as {COORD} activity fire {ref} sample_cases --input sample_size"), code=2
    )
    assert "expected NAME=VALUE" in result.stderr
    result = cli.run("--as", COORD, "task", "extend", "1", "--reason", "r", code=2)
    assert "give exactly one of --to DATE or --by N" in result.stderr
    cli.run("frobnicate", code=2)


def test_bad_csv_exits_8_and_imports_nothing(ready: tuple[Cli, str], tmp_path: Path) -> None:
    cli, _ref = ready
    before = cli("agencies", "list")
    bad = AGENCIES_CSV.replace("police,Lead Police,lead@", "police,Lead Police,lead-at-") + (
        "HOUS,Northshire Homes (fictional),housing,Lead Homes,lead@homes.northshire.example,,,"
        "Chief Homes,chief@homes.northshire.example\n"
        "VOL,Northshire Forum (fictional),sunshine,Lead Forum,lead@vcs.northshire.example,,,,\n"
    )
    path = tmp_path / "bad.csv"
    path.write_text(bad, encoding="utf-8")
    result = cli.run("agencies", "import", str(path), code=8)
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: 2 bad rows, nothing imported")
    assert "row 2: lead_email: 'lead-at-police.northshire.example'" in result.stderr
    assert "row 6: unknown sector 'sunshine'" in result.stderr
    assert cli("agencies", "list") == before
    assert "HOUS" not in before

    wrong_columns = tmp_path / "columns.csv"
    wrong_columns.write_text("code,title\nPOL,Police\n", encoding="utf-8")
    line = cli.fails(8, "agencies", "import", str(wrong_columns))
    assert "missing column name, sector, lead_name, lead_email" in line
    assert "unknown column title" in line

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(AGENCIES_CSV.replace("Children's", "Caf\xe9").encode("latin-1"))
    assert cli.fails(8, "agencies", "import", str(latin1)).endswith(
        "not UTF-8 text; save the CSV as UTF-8"
    )
    assert cli("agencies", "list") == before


def test_bad_csv_error_is_one_line(ready: tuple[Cli, str], tmp_path: Path) -> None:
    cli, _ref = ready
    path = tmp_path / "bad.csv"
    path.write_text(AGENCIES_CSV.replace("police,Lead", "pirates,Lead"), encoding="utf-8")
    line = cli.fails(8, "agencies", "import", str(path))
    assert "row 2" in line


# ----------------------------------------------------------------------------- the main flow


def test_full_flow(any_cli: Cli, tmp_path: Path) -> None:
    cli = any_cli
    out = cli("db", "upgrade")
    assert re.search(r": empty -> \w+$", out.strip()), out
    assert "up to date" in cli("db", "current")
    assert re.search(r": \w+ -> \w+$", cli("db", "upgrade").strip())  # idempotent

    csv_path = _agencies_file(tmp_path)
    assert cli("agencies", "import", csv_path) == f"{csv_path}: 3 agencies added, 0 updated\n"
    assert cli("agencies", "import", csv_path) == f"{csv_path}: 0 agencies added, 3 updated\n"
    listing = cli("agencies", "list")
    assert [ln.split()[0] for ln in listing.splitlines()[1:]] == ["CSC", "ICB", "POL"]
    assert "deputy@police.northshire.example" in listing

    out = cli(*sh(f"staff add --name 'Casey Coord' --email {COORD.upper()} --role coordinator"))
    assert out == f"{COORD}: coordinator\n"
    cli("staff", "add", "--name", "Morgan Manager", "--email", MANAGER, "--role", "manager")
    staff = cli("staff", "list")
    assert COORD in staff
    assert MANAGER in staff

    ref = _open_audit(cli, "POL", "ICB", "CSC")
    assert re.fullmatch(r"MAA-\d{4}-001", ref)
    assert ref in cli("activity", "list", "--open")

    out = cli(*sh(f"--as {COORD} activity fire {ref} sample_cases --input sample_size=4"))
    assert out == f"{ref}: Record the case sample. Now: Cases sampled\n"
    out = cli("--as", COORD, "activity", "fire", ref, "issue_audit_tools")
    assert out.startswith(f"{ref}: Issue audit tools to agencies. Now: Awaiting audit returns\n")
    task_ids = {
        name: int(num)
        for num, name in re.findall(
            r"task (\d+): Single-agency audit return: Northshire (\w+)", out
        )
    }
    assert set(task_ids) == {"Constabulary", "ICB", "Children"}
    pol, icb, csc = task_ids["Constabulary"], task_ids["ICB"], task_ids["Children"]

    listed = cli("task", "list", "--activity", ref.lower())
    rows = listed.splitlines()[1:]
    assert sorted(int(r.split()[0]) for r in rows) == sorted(task_ids.values())
    assert all(
        "Single-agency audit return" in r and "Requested" in r and "working days left" in r
        for r in rows
    )
    assert "CSC" in listed

    show = cli("activity", "show", ref)
    due = datetime.strptime(DUE.search(show).group(1), "%A %d %B %Y").date()  # type: ignore[union-attr]
    assert f"due {format_deadline_date(due)}" in listed
    # --overdue needs time to pass (the CLI reads the system clock); --due-before does not
    assert cli("task", "list", "--overdue") == "(none)\n"
    assert cli("task", "list", "--due-before", due.isoformat()) == "(none)\n"
    before_next = cli("task", "list", "--due-before", (due + timedelta(days=1)).isoformat())
    assert len(before_next.splitlines()) == 4
    assert cli("task", "list", "--agency", "pol").splitlines()[1].split()[:3] == [
        str(pol),
        ref,
        "POL",
    ]

    # the agency's lead answers its own task's audit tool, then submits it, and only its own
    out = cli(
        "--as", POL_LEAD, "assessment", "answer", str(pol), *answer_args("single_agency_audit")
    )
    questions = len(FORMS.get("single_agency_audit").questions())
    assert out.startswith(f"task {pol} of {ref}: saved {questions} answers (assessment ")
    assert out.endswith(f"complete: ready to submit (sef assessment submit {pol})\n")
    out = cli(*sh(f"--as {POL_LEAD} task fire {pol} submit --input 'summary=Audit tool completed'"))
    assert out == f"task {pol} of {ref}: Submit the audit return. Now: Submitted\n"
    line = cli.fails(7, *sh(f"--as {POL_DEPUTY} task fire {icb} submit --input summary=x"))
    assert "belongs to another agency" in line
    cli.fails(5, *sh(f"--as {POL_DEPUTY} task fire {pol} submit --input summary=again"))

    # deadlines: extend by working days, pause, resume, waive with a manager's approval
    cal = WorkingCalendar()
    extended = cal.add_working_days(due, 5)
    out = cli(*sh(f"--as {COORD} task extend {icb} --by 5 --reason 'Agency restructure'"))
    assert out.startswith(f"task {icb} of {ref}: due {format_deadline_date(extended)} (")
    assert f"originally {format_date(due)}" in out
    cli.fails(7, *sh(f"--as {POL_LEAD} task extend {icb} --by 1 --reason x"))

    out = cli(*sh(f"--as {COORD} task pause {icb} --reason 'Waiting on a partner'"))
    assert out == f"task {icb} of {ref}: due {format_deadline_date(extended)} (paused)\n"
    cli.fails(5, *sh(f"--as {COORD} task pause {icb} --reason again"))
    out = cli(*sh(f"--as {COORD} task resume {icb} --reason 'Partner replied'"))
    assert "working days left" in out

    waive = f"--as {COORD} task waive {csc} --reason 'Not involved' --approver"
    line = cli.fails(7, *sh(f"{waive} {COORD}"))
    assert "waiving a deadline needs a manager" in line
    out = cli(*sh(f"{waive} {MANAGER}"))
    assert out.endswith("(waived)\n")
    assert "(none)" not in cli(
        "task", "list", "--due-before", (extended + timedelta(days=1)).isoformat()
    )

    show = cli("activity", "show", ref)
    assert show.startswith(f"{ref}  Neglect themed audit (fictional)\n")
    assert "state: Awaiting audit returns;" in show
    assert "agencies: " in show
    assert "Audit theme: Neglect" in show
    assert "allowed now (sef activity fire REF TRIGGER):" in show
    assert "    convene_meeting: Convene the audit meeting" in show
    tasks_part, timeline = show.split("\nTasks:\n")[1].split("\nTimeline:\n")
    assert "working days left" in tasks_part
    assert "(waived)" in tasks_part
    assert "Submitted" in tasks_part
    police = "Lead Police of Northshire Constabulary (fictional)"
    police_task = "“Single-agency audit return: Northshire Constabulary (fictional)”"
    icb_task = "“Single-agency audit return: Northshire ICB (fictional)”"
    assert "Casey Coord opened the activity (Audit theme: Neglect). Now: Planning" in timeline
    assert (
        "Casey Coord: Record the case sample (Number of cases sampled: 4). Now: Cases sampled"
        in timeline
    )
    assert (
        f"{police} on {police_task}: Submit the audit return (Anything to add: Audit tool completed; "
        "10 answers rated). Now: Submitted" in timeline
    )
    assert f"{police} saved 10 answers on {police_task}" in timeline
    assert (
        f"Casey Coord extended the deadline of {icb_task} from {format_date(due)} to "
        f"{format_date(extended)}: Agency restructure" in timeline
    )
    assert f"Casey Coord paused the deadline of {icb_task}: Waiting on a partner" in timeline
    assert f"Casey Coord restarted the deadline of {icb_task}" in timeline
    assert ": Partner replied" in timeline
    assert (
        "Casey Coord waived the deadline of “Single-agency audit return: Northshire "
        "Children's Services (fictional)”, approved by Morgan Manager: Not involved" in timeline
    )
    for engine in ("->", "{", "None", "_return", "2026-", "2027-"):
        assert engine not in timeline, engine

    # the demo refuses to mix with existing data; --reset is SQLite only
    cli.fails(8, "demo")
    if "SEF_DATABASE_URL" in cli.env:
        assert "--reset only deletes SQLite files" in cli.fails(8, "demo", "--reset")


def test_task_extend_to_date_and_approver(ready: tuple[Cli, str]) -> None:
    cli, ref = ready
    cli(*sh(f"--as {COORD} activity fire {ref} sample_cases --input sample_size=2"))
    out = cli(*sh(f"--as {COORD} activity fire {ref} issue_audit_tools"))
    first = int(re.findall(r"task (\d+):", out)[0])
    target = date(2031, 3, 3)
    out = cli(
        *sh(f"--as {COORD} task extend {first} --to {target} --reason Long --approver {MANAGER}")
    )
    assert f"due {format_deadline_date(target)}" in out
    assert f"to {format_date(target)}, approved by Morgan Manager: Long" in cli(
        "activity", "show", ref
    )
    line = cli.fails(
        4, *sh(f"--as {COORD} task extend {first} --by 1 --reason r --approver nobody@scp.example")
    )
    assert "approver nobody@scp.example is not active staff" in line


# ----------------------------------------------------------------------------- workflows


def test_workflows_check_lists_all_five(cli: Cli) -> None:
    out = cli("workflows", "check")
    names = [ln.split(":")[0] for ln in out.splitlines()]
    assert names == WORKFLOW_NAMES
    assert all(
        re.search(r": ok \(\d+ states, \d+ transitions, \d+ task kinds, version \w+\)", ln)
        for ln in out.splitlines()
    )
    assert cli("config", "check").endswith(": ok (5 workflows, 3 forms, 4 grading scales)\n")
    forms = cli("forms", "check")
    assert "form section11: ok (self_assessment, 8 standards, 19 questions" in forms
    assert "scale ofsted: ok (inadequate (red)" in forms
    shown = cli("forms", "show", "maa_judgements")
    assert "recognition" in shown
    assert "Outstanding" in shown


def test_workflows_show(cli: Cli) -> None:
    out = cli("workflows", "show", "themed_audit")
    assert out.startswith(
        "Multi-agency themed audit (themed_audit, reference MAA-YYYY-NNN, version "
    )
    states = out.split("\nStates:\n")[1].split("\n\nTransitions:\n")[0]
    assert re.search(r"^  planning\s+Planning \(start\)$", states, flags=re.MULTILINE)
    assert re.search(r"^  closed\s+Closed \(final\)$", states, flags=re.MULTILINE)
    assert re.search(
        r"^  sample_cases\s+planning -> sampling  \[coordinator\]$", out, flags=re.MULTILINE
    )
    assert "guards has_agencies" in out
    assert "creates audit_return" in out
    assert re.search(
        r"^  audit_return\s+Single-agency audit return \(each_agency; 20 working days",
        out,
        flags=re.MULTILINE,
    )
    mermaid = out.split("```mermaid\n")[1].split("```")[0]
    assert mermaid.startswith("stateDiagram-v2")
    assert "planning --> sampling" in mermaid
    only = cli("workflows", "show", "themed_audit", "--mermaid")
    assert only.strip() == mermaid.strip()


# ----------------------------------------------------------------------------- demo


def test_demo_loads_then_refuses_then_resets(cli: Cli) -> None:
    out = cli("demo")
    assert "12 agencies and 5 staff" in out
    listing = cli("activity", "list")
    refs = [ln.split()[0] for ln in listing.splitlines()[1:]]
    for prefix in ("MAA", "CSPR", "S11", "AP", "REQ"):
        assert any(r.startswith(f"{prefix}-") for r in refs), (prefix, listing)
    assert len(cli("agencies", "list").splitlines()) == 13
    assert "working days overdue" in cli("task", "list", "--overdue")

    line = cli.fails(8, "demo")
    assert f"already holds {len(refs)} activities" in line
    assert "sef demo --reset" in line

    cli("demo", "--reset")
    assert [ln.split()[0] for ln in cli("activity", "list").splitlines()[1:]] == refs


# ----------------------------------------------------------------------------- config show


def _shown(out: str) -> dict[str, dict[str, str]]:
    """``sef config show`` output as {section: {key: shown value}}."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        else:
            key, _, value = line.partition(" = ")
            current[key] = value
    return sections


def test_config_show_masks_secrets(cli: Cli) -> None:
    assert ("smtp", "password") in SECRETS
    env = {f"SEF_{s.upper()}_{k.upper()}": "hunter2-secret" for s, k in SECRETS}
    env["SEF_SMTP_PORT"] = "2525"
    out = cli("config", "show", env=env)
    assert "hunter2" not in out
    shown = _shown(out)
    assert shown["smtp"]["password"] == "***"
    assert shown["smtp"]["port"] == "2525"
    for section, key in SECRETS:
        assert shown[section][key] == "***"
    assert shown["calendar"]["timezone"] == "'Europe/London'"
    # with no secret set there is nothing to mask
    plain = _shown(cli("config", "show"))
    for section, key in SECRETS:
        assert plain[section][key] == "''"


def test_config_show_masks_password_in_database_url(cli: Cli) -> None:
    url = "postgresql+psycopg://sef:hunter2-secret@db.northshire.example:5432/sef"
    out = cli("config", "show", env={"SEF_DATABASE_URL": url})
    assert "db.northshire.example" in out
    assert "hunter2" not in out


def test_database_for_cli_is_the_configured_one(any_cli: Cli, tmp_path: Path) -> None:
    """SEF_DATABASE_URL beats the file: the schema lands where the environment says."""
    any_cli("db", "upgrade")
    url = any_cli.env.get("SEF_DATABASE_URL", f"sqlite:///{tmp_path / 'sef.db'}")
    db = Database(url)
    try:
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()
    if "SEF_DATABASE_URL" in any_cli.env:
        assert not (tmp_path / "sef.db").exists()


# ----------------------------------------------------------------------------- outbox and mail


def _issue(cli: Cli, ref: str) -> None:
    cli("--as", COORD, "activity", "fire", ref, "sample_cases", "--input", "sample_size=3")
    cli("--as", COORD, "activity", "fire", ref, "issue_audit_tools")


def test_deliver_into_the_catcher_and_read_it_back(ready: tuple[Cli, str]) -> None:
    cli, ref = ready
    _issue(cli, ref)
    listed = cli("outbox", "list", "--status", "pending")
    assert listed.count("Audit tool issued") == 3  # the police lead and deputy, the ICB lead
    assert "audit_tool_issued" not in listed
    assert listed.count("Waiting to be sent") == 3
    out = cli("outbox", "deliver")
    assert "sent 3, retrying later 0, failed 0" in out
    assert cli("outbox", "list", "--status", "pending") == "(none)\n"
    mail = cli("mail", "list")
    assert mail.count(f"{ref}: audit tool issued") == 3
    shown = cli("mail", "show", "1")
    assert re.search(rf"^Subject: {ref}: audit tool issued", shown, flags=re.MULTILINE)
    assert "Attachments: deadline.ics" in shown
    assert "http://127.0.0.1:8000/login/link/" in shown  # agencies get a single-use sign-in link
    first = re.search(r"^(\d+)\s", cli("outbox", "list", "--status", "sent").splitlines()[1])
    assert first is not None
    detail = cli("outbox", "show", first.group(1))
    assert detail.startswith(f"email {first.group(1)}: Audit tool issued (1 attempt)\n")
    assert "sent 250" in detail
    assert "Message-ID: <" in detail
    timeline = cli("activity", "show", ref)
    assert "Email “Audit tool issued” to lead@police.northshire.example (the agency's lead)" in (
        timeline
    )
    assert re.search(r": sent \d+ \w+ \d{4} at (\d+(:\d\d)?[ap]m|midday|midnight)\n", timeline)


def test_failed_email_is_listed_and_can_be_retried(ready: tuple[Cli, str]) -> None:
    cli, ref = ready
    _issue(cli, ref)
    with ScriptedSmtpServer() as server:
        server.refuse("lead@police.northshire.example")
        env = {"SEF_SMTP_HOST": "127.0.0.1", "SEF_SMTP_PORT": str(server.port)}
        out = cli("outbox", "deliver", env=env)
        assert "failed 1" in out
        failed = cli("outbox", "list", "--status", "failed")
        assert "lead@police.northshire.example" in failed
        assert "550" in failed
        nid = failed.splitlines()[1].split()[0]
        assert "queued again" in cli("outbox", "retry", nid)
        assert "lead@police" not in cli("outbox", "list", "--status", "failed")


def test_retry_of_a_pending_email_is_refused(ready: tuple[Cli, str]) -> None:
    cli, ref = ready
    _issue(cli, ref)
    nid = cli("outbox", "list").splitlines()[1].split()[0]
    line = cli.fails(8, "outbox", "retry", nid)
    assert "only a failed" in line
    assert "does not exist" in cli.fails(4, "outbox", "show", "9999")


def test_mail_test_reports_what_the_server_said(cli: Cli) -> None:
    out = cli("mail", "test", "--to", "someone@northshire.example")
    assert re.search(r"accepted by the embedded mail catcher on 127\.0\.0\.1:\d+: 250 ", out)
    with ScriptedSmtpServer() as server:
        server.refuse("nobody@northshire.example")
        env = {"SEF_SMTP_HOST": "127.0.0.1", "SEF_SMTP_PORT": str(server.port)}
        result = cli.run("mail", "test", "--to", "nobody@northshire.example", code=10, env=env)
        assert f"permanent failure from 127.0.0.1:{server.port} (tls none): 550" in result.stdout
    assert "not an email address" in cli.fails(8, "mail", "test", "--to", "not-an-address")


def test_templates_check(cli: Cli) -> None:
    assert re.search(r"notifications: ok \(\d+ messages\)", cli("templates", "check"))


def test_staff_password_and_agency_link(ready: tuple[Cli, str]) -> None:
    cli, _ref = ready
    assert (
        cli("staff", "password", COORD, "--password", "a-long-enough-one")
        == f"{COORD}: password set\n"
    )
    assert "at least 10 characters" in cli.fails(
        8, "staff", "password", COORD, "--password", "short"
    )
    link = cli("agencies", "link", POL_LEAD).strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/login/link/[A-Za-z0-9_-]{20,}", link)
    assert cli.fails(8, "agencies", "link", COORD)
