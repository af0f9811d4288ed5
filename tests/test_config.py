"""Settings: config.toml, SEF_CONFIG, SEF_<SECTION>_<KEY>; one-line errors naming file and key."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sef_workflow.app import build, build_calendar
from sef_workflow.config import (
    DEFAULT_CONFIG,
    PROJECT_ROOT,
    SECRETS,
    LoadedSettings,
    Settings,
    describe_settings,
    load_settings,
)
from sef_workflow.definitions import Registry
from sef_workflow.errors import ConfigError

from .conftest import WORKFLOWS

README = PROJECT_ROOT / "README.md"


@pytest.fixture(autouse=True)
def _no_sef_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own SEF_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("SEF_") and not name.startswith(("SEF_TEST_", "SEF_REQUIRE_")):
            monkeypatch.delenv(name)


def _write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(path: Path | None = None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def _env_name(section: str, key: str) -> str:
    return f"SEF_{section.upper()}_{key.upper()}"


# ----------------------------------------------------------------------------- loading


def test_defaults_load_from_shipped_file() -> None:
    loaded = load_settings(environ={})
    assert loaded.source == DEFAULT_CONFIG
    assert loaded.root == PROJECT_ROOT
    defaults = Settings()
    # the shipped file states every default
    for section, value in loaded.settings:
        if section != "workflow_parameters":
            assert value == getattr(defaults, section), section
    assert loaded.database_url() == f"sqlite:///{PROJECT_ROOT / 'var' / 'sef.db'}"
    assert loaded.workflows_dir() == PROJECT_ROOT / "workflows"
    # the workflow parameters in the shipped file are the workflow files' own defaults
    shipped = Registry(WORKFLOWS, loaded.settings.workflow_parameters).current()
    plain = Registry(WORKFLOWS).current()
    assert {n: w.parameters for n, w in shipped.items()} == {
        n: w.parameters for n, w in plain.items()
    }


def test_load_settings_reads_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEF_PARTNERSHIP_NAME", "Southshire Partnership (fictional)")
    assert load_settings().settings.partnership.name == "Southshire Partnership (fictional)"


def test_sef_config_picks_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path,
        '[partnership]\nname = "Eastshire Partnership (fictional)"\n'
        '[database]\nurl = "sqlite:////srv/sef/east.db"\nbusy_timeout_ms = 100\n',
    )
    loaded = load_settings(environ={"SEF_CONFIG": str(path)})
    assert loaded.source == path
    assert loaded.root == tmp_path
    assert loaded.settings.partnership.name == "Eastshire Partnership (fictional)"
    assert loaded.settings.database.busy_timeout_ms == 100
    assert loaded.settings.database.echo is False  # not in the file: the default
    assert loaded.database_url() == "sqlite:////srv/sef/east.db"

    monkeypatch.setenv("SEF_CONFIG", str(path))
    assert load_settings().source == path
    # an explicit path wins over SEF_CONFIG
    other = _write(tmp_path, "", "other.toml")
    assert load_settings(other).source == other


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[database]\nurl = "sqlite:///file.db"\necho = false\nbusy_timeout_ms = 10\n'
        "[calendar]\nclosure_days = [2026-12-24]\n",
    )
    loaded = load_settings(
        path,
        environ={
            "SEF_DATABASE_URL": "postgresql+psycopg://sef@db.example:5432/sef",
            "SEF_DATABASE_ECHO": "true",
            "SEF_DATABASE_BUSY_TIMEOUT_MS": "2525",
            "SEF_CALENDAR_CLOSURE_DAYS": "[2026-12-29]",
            "SEF_CALENDAR_TIMEZONE": "Europe/Dublin",
            "SEF_WORKFLOWS_DIRECTORY": str(WORKFLOWS),
            "SEF_SMTP_HOST": "smtp.northshire.example",
            "SEF_SMTP_PORT": "2525",
            "SEF_SMTP_TLS": "starttls",
            "SEF_SMTP_TIMEOUT_SECONDS": "2.5",
        },
    )
    s = loaded.settings
    assert s.database.url == "postgresql+psycopg://sef@db.example:5432/sef"
    assert loaded.database_url() == s.database.url
    assert s.database.echo is True
    assert s.database.busy_timeout_ms == 2525
    assert s.calendar.closure_days == [date(2026, 12, 29)]
    assert s.calendar.timezone == "Europe/Dublin"
    assert loaded.workflows_dir() == WORKFLOWS
    assert (s.smtp.host, s.smtp.port, s.smtp.tls) == ("smtp.northshire.example", 2525, "starttls")
    assert s.smtp.timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("YES", True), ("on", True), ("false", False), ("0", False)],
)
def test_boolean_environment_values(raw: str, expected: bool) -> None:
    loaded = load_settings(environ={"SEF_DATABASE_ECHO": raw})
    assert loaded.settings.database.echo is expected


def test_closure_days_list_from_environment() -> None:
    loaded = load_settings(environ={"SEF_CALENDAR_CLOSURE_DAYS": "[2026-12-29, 2026-12-30]"})
    assert loaded.settings.calendar.closure_days == [date(2026, 12, 29), date(2026, 12, 30)]
    cal = build_calendar(loaded)
    assert not cal.is_working_day(date(2026, 12, 29))
    assert cal.is_working_day(date(2026, 12, 31))


def test_relative_sqlite_path_is_under_the_config_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    path = _write(
        folder, '[database]\nurl = "sqlite:///data/sef.db"\n[workflows]\ndirectory = "wf"\n'
    )
    loaded = load_settings(path, environ={})
    assert loaded.database_url() == f"sqlite:///{folder / 'data' / 'sef.db'}"
    assert loaded.workflows_dir() == folder / "wf"
    # the same for a relative URL given by the environment
    env = {"SEF_DATABASE_URL": "sqlite:///../other.db"}
    assert load_settings(path, environ=env).database_url() == f"sqlite:///{tmp_path / 'other.db'}"
    # absolute paths, in-memory databases and other engines are left alone
    for url in ("sqlite:////abs/sef.db", "sqlite:///:memory:", "postgresql+psycopg://h/db"):
        assert load_settings(path, environ={"SEF_DATABASE_URL": url}).database_url() == url


@pytest.mark.parametrize(("section", "key"), sorted(SECRETS))
def test_secret_only_from_environment(tmp_path: Path, section: str, key: str) -> None:
    env_name = _env_name(section, key)
    path = _write(tmp_path, f'[{section}]\n{key} = "hunter2-in-a-file"\n')
    message = _config_error(path)
    assert message.startswith(f"{path}: ")
    assert f"'{section}.{key}'" in message
    assert "secret" in message
    assert env_name in message
    assert "hunter2" not in message

    loaded = load_settings(_write(tmp_path, "", "empty.toml"), environ={env_name: "s3cret"})
    assert getattr(getattr(loaded.settings, section), key) == "s3cret"


def test_database_password_goes_into_a_url_without_one() -> None:
    base = "postgresql+psycopg://sef@db.example:5432/sef"
    env = {"SEF_DATABASE_URL": base, "SEF_DATABASE_PASSWORD": "s3cret"}
    assert load_settings(environ=env).database_url() == (
        "postgresql+psycopg://sef:s3cret@db.example:5432/sef"
    )
    with_own = "postgresql+psycopg://sef:own@db.example:5432/sef"
    env["SEF_DATABASE_URL"] = with_own
    assert load_settings(environ=env).database_url() == with_own


# ----------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '[mailer]\nhost = "smtp.example"\n',
            ["unknown section 'mailer'", "allowed: partnership, database, calendar"],
            id="unknown-section",
        ),
        pytest.param(
            '[database]\nuser = "sef"\n',
            ["unknown key 'database.user'", "allowed in [database]: url", "busy_timeout_ms"],
            id="unknown-key",
        ),
        pytest.param(
            '[smtp]\nserver = "smtp.example"\n',
            ["unknown key 'smtp.server'", "allowed in [smtp]: host, port, tls"],
            id="unknown-smtp-key",
        ),
        pytest.param(
            '[smtp]\nport = "x"\n',
            ["key 'smtp.port'", "allowed: integer", "got 'x'"],
            id="wrong-type-port",
        ),
        pytest.param(
            "[smtp]\nport = 70000\n",
            ["key 'smtp.port'", "less than or equal to 65535", "got 70000"],
            id="port-out-of-range",
        ),
        pytest.param(
            '[smtp]\ntls = "ssl"\n',
            ["key 'smtp.tls'", "allowed: 'none' | 'starttls' | 'implicit'", "got 'ssl'"],
            id="value-not-allowed-tls",
        ),
        pytest.param(
            '[database]\nbusy_timeout_ms = "x"\n',
            ["key 'database.busy_timeout_ms'", "allowed: integer", "got 'x'"],
            id="wrong-type-int",
        ),
        pytest.param(
            '[database]\necho = "yes"\n',
            ["key 'database.echo'", "allowed: boolean", "got 'yes'"],
            id="wrong-type-bool",
        ),
        pytest.param(
            "[partnership]\nname = 42\n",
            ["key 'partnership.name'", "allowed: string", "got 42"],
            id="wrong-type-str",
        ),
        pytest.param(
            "[database]\nbusy_timeout_ms = -1\n",
            ["key 'database.busy_timeout_ms'", "greater than or equal to 0", "got -1"],
            id="value-not-allowed",
        ),
        pytest.param(
            '[calendar]\nclosure_days = ["Christmas"]\n',
            ["key 'calendar.closure_days", "allowed: list of date", "got 'Christmas'"],
            id="bad-closure-day",
        ),
        pytest.param(
            'workflows = "elsewhere"\n',
            ["key 'workflows' must be a table [workflows]"],
            id="section-not-a-table",
        ),
        pytest.param(
            "[workflow_parameters]\nthemed_audit = 3\n",
            ["key 'workflow_parameters.themed_audit'", "got 3"],
            id="parameters-not-a-table",
        ),
        pytest.param(
            '[database]\nurl = "sqlite:///x.db\n',
            ["malformed TOML", "line 2"],
            id="malformed-toml",
        ),
        pytest.param(
            "[database\n",
            ["malformed TOML", "line 1"],
            id="malformed-header",
        ),
    ],
)
def test_bad_file_stops_with_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = _write(tmp_path, text)
    message = _config_error(path)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, message
    # the same through SEF_CONFIG
    assert _config_error(environ={"SEF_CONFIG": str(path)}) == message


def test_secret_section_that_is_not_a_table(tmp_path: Path) -> None:
    section = sorted(SECRETS)[0][0]
    path = _write(tmp_path, f"{section} = 5\n")
    message = _config_error(path)
    assert f"key '{section}' must be a table" in message


def test_missing_file_named_by_sef_config(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "sef.toml"
    message = _config_error(environ={"SEF_CONFIG": str(missing)})
    assert message.startswith(f"{missing}: config file not found")
    assert "SEF_CONFIG" in message
    assert _config_error(missing).startswith(f"{missing}: config file not found")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[partnership]\nname = "Caf\xe9"\n')
    message = _config_error(path)
    assert message.startswith(f"{path}: cannot read the file")


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("SEF_SMTP_PORT", "abc", "expected an integer"),
        ("SEF_SMTP_TIMEOUT_SECONDS", "soon", "expected a number"),
        ("SEF_DATABASE_BUSY_TIMEOUT_MS", "abc", "expected an integer"),
        ("SEF_DATABASE_ECHO", "maybe", "expected true or false"),
        ("SEF_CALENDAR_CLOSURE_DAYS", "[2026-12-", "expected a TOML list, e.g. [2026-12-29]"),
    ],
)
def test_bad_environment_value_names_the_variable(name: str, raw: str, expected: str) -> None:
    message = _config_error(environ={name: raw})
    assert message == f"environment: {name}={raw!r}: {expected}"


def test_environment_value_failing_validation_names_the_variable() -> None:
    message = _config_error(environ={"SEF_DATABASE_BUSY_TIMEOUT_MS": "-5"})
    assert "SEF_DATABASE_BUSY_TIMEOUT_MS" in message


# ----------------------------------------------------------------------------- documentation


def _sections(text: str) -> dict[str, list[str]]:
    """The lines of each [section] (a [a.b] header counts under 'a'), with its header."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        m = re.match(r"^\[([A-Za-z0-9_]+)(?:\.[^\]]*)?\]\s*$", line)
        if m:
            current = m.group(1)
            out.setdefault(current, [])
        out[current].append(line)
    return out


def test_every_setting_is_documented_in_shipped_config_toml() -> None:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    sections = _sections(text)
    problems: list[str] = []
    for key, _type, _default, description in describe_settings():
        assert description, f"{key} has no description in config.py"
        if "." not in key:  # a free-form table such as workflow_parameters
            lines = text.splitlines()
            idx = [i for i, ln in enumerate(lines) if re.match(rf"^\[{re.escape(key)}[.\]]", ln)]
            if not idx:
                problems.append(f"{key}: no [{key}...] table")
            elif not lines[idx[0] - 1].startswith("#"):
                problems.append(f"{key}: no comment above its first table")
            continue
        section, name = key.split(".", 1)
        lines = sections.get(section, [])
        if (section, name) in SECRETS:
            env_name = _env_name(section, name)
            if not any(ln.startswith("#") and env_name in ln for ln in lines):
                problems.append(f"{key}: secret not explained by a comment naming {env_name}")
            if any(re.match(rf"^{name}\s*=", ln) for ln in lines):
                problems.append(f"{key}: secret set in the shipped file")
            continue
        idx = [i for i, ln in enumerate(lines) if re.match(rf"^{re.escape(name)}\s*=", ln)]
        if not idx:
            problems.append(f"{key}: missing from [{section}]")
        elif not lines[idx[0] - 1].startswith("#"):
            problems.append(f"{key}: no comment line above it")
    assert problems == []


def test_every_setting_is_in_the_readme_settings_table() -> None:
    assert README.is_file(), "README.md is missing"
    rows = [ln for ln in README.read_text(encoding="utf-8").splitlines() if ln.startswith("|")]
    first_cells = {ln.split("|")[1].strip().strip("`") for ln in rows if ln.count("|") >= 3}
    missing = [key for key, *_ in describe_settings() if key not in first_cells]
    assert missing == [], f"README.md's settings table lacks {', '.join(missing)}"


# ----------------------------------------------------------------------------- workflow parameters


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"practice_review": {"rapid_review_basis": "whenever"}},
            [
                "key 'workflow_parameters.practice_review.rapid_review_basis'",
                "'whenever' is not allowed",
                "allowed: awareness, notification",
            ],
            id="not-among-choices",
        ),
        pytest.param(
            {"themed_audit": {"return_days": 10}},
            [
                "key 'workflow_parameters.themed_audit.return_days'",
                "unknown parameter",
                "allowed: return_working_days",
            ],
            id="unknown-parameter",
        ),
        pytest.param(
            {"themed_audit": {"return_working_days": "ten"}},
            ["key 'workflow_parameters.themed_audit.return_working_days'", "expected int"],
            id="wrong-type",
        ),
        pytest.param(
            {"audit": {"return_working_days": 10}},
            ["key 'workflow_parameters.audit'", "no workflow named 'audit'", "themed_audit"],
            id="unknown-workflow",
        ),
    ],
)
def test_bad_workflow_parameter_override(
    overrides: dict[str, dict[str, Any]], expected: list[str]
) -> None:
    registry = Registry(WORKFLOWS, overrides, config_origin="partnership.toml")
    with pytest.raises(ConfigError) as info:
        registry.current()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("partnership.toml: ")
    for part in expected:
        assert part in message, message


def _build(loaded: LoadedSettings) -> Registry:
    app = build(loaded)
    app.db.dispose()
    return app.registry


def test_workflow_parameters_from_config_file(tmp_path: Path) -> None:
    head = (
        f'[database]\nurl = "sqlite:///{tmp_path}/p.db"\n[workflows]\ndirectory = "{WORKFLOWS}"\n'
        f'templates = "{WORKFLOWS.parent / "notifications"}"\n'
        f'forms = "{WORKFLOWS.parent / "forms"}"\n'
    )
    good = _write(
        tmp_path,
        head + '[workflow_parameters.practice_review]\nrapid_review_basis = "notification"\n'
        "[workflow_parameters.themed_audit]\nreturn_working_days = 15\n",
        "good.toml",
    )
    workflows = _build(load_settings(good, environ={})).current()
    assert workflows["practice_review"].parameters["rapid_review_basis__choice"] == "notification"
    assert workflows["themed_audit"].parameters["return_working_days"] == 15

    bad = _write(
        tmp_path,
        head + '[workflow_parameters.practice_review]\nrapid_review_basis = "never"\n',
        "bad.toml",
    )
    with pytest.raises(ConfigError) as info:
        _build(load_settings(bad, environ={})).current()
    assert str(info.value).startswith(
        f"{bad}: key 'workflow_parameters.practice_review.rapid_review_basis': 'never'"
    )


# ----------------------------------------------------------------------------- calendar


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SEF_CALENDAR_COUNTRY": "XX"}, "key 'calendar.country'"),
        ({"SEF_CALENDAR_SUBDIV": "ZZZ"}, "'calendar.subdiv'"),
        ({"SEF_CALENDAR_TIMEZONE": "Mars/Olympus"}, "key 'calendar.timezone'"),
        ({"SEF_CALENDAR_TIMEZONE": ""}, "key 'calendar.timezone'"),
    ],
)
def test_bad_calendar_setting(env: dict[str, str], expected: str) -> None:
    loaded = load_settings(environ=env)
    with pytest.raises(ConfigError) as info:
        build_calendar(loaded)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{DEFAULT_CONFIG}: ")
    assert expected in message


def test_bad_calendar_in_file_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[calendar]\ncountry = "Narnia"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: key 'calendar.country'")):
        build_calendar(load_settings(path, environ={}))
    path = _write(tmp_path, '[calendar]\ntimezone = "Europe/Northshire"\n', "tz.toml")
    with pytest.raises(ConfigError, match="allowed: an IANA name"):
        build_calendar(load_settings(path, environ={}))
