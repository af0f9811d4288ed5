"""The import contracts in ``.importlinter``: they hold on the package, and they catch what
they are written against (an import back up the layers, a circle inside one package, a
migration importing the application) in a scratch copy of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / ".importlinter"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the package to break on purpose; ``PYTHONPATH`` puts it first."""
    shutil.copytree(
        ROOT / "sef_workflow",
        tmp_path / "sef_workflow",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return tmp_path


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(ROOT, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_back_up_the_layers_is_refused(scratch: Path) -> None:
    models = scratch / "sef_workflow" / "models.py"
    models.write_text(models.read_text() + "\nfrom . import app as _app  # noqa: E402\n")
    result = _lint(scratch, scratch)
    assert result.returncode != 0
    assert "Entry points, then the service, then what it uses, then the ground BROKEN" in (
        result.stdout
    )
    assert "sef_workflow.models -> sef_workflow.app" in result.stdout


def test_a_circle_inside_one_package_is_refused(scratch: Path) -> None:
    notify = scratch / "sef_workflow" / "notify"
    (notify / "first.py").write_text("from . import second as second\n")
    (notify / "second.py").write_text("from . import first as first\n")
    result = _lint(scratch, scratch)
    assert result.returncode != 0
    assert "No import circle between the modules of any package BROKEN" in result.stdout
    assert "No cycles are allowed in sef_workflow.notify" in result.stdout


def test_a_migration_importing_the_application_is_refused(scratch: Path) -> None:
    versions = scratch / "sef_workflow" / "migrations" / "versions"
    migration = next(versions.glob("0007_*.py"))
    migration.write_text(migration.read_text() + "\nfrom sef_workflow.calendar import LONDON\n")
    result = _lint(scratch, scratch)
    assert result.returncode != 0
    assert "A migration imports no application code" in result.stdout
    assert "BROKEN" in result.stdout


def _architecture_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Architecture")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_readme_names_every_module_in_its_room() -> None:
    """A newcomer finds where a rule lives from the README: every module of the package
    (not ``__init__``, ``__main__`` or a migration) is named there, by its file name under
    its folder's entry."""
    section = _architecture_section()
    package = ROOT / "sef_workflow"
    missing = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if path.name in ("__init__.py", "__main__.py") or relative.parts[0] == "migrations":
            continue
        folder = "/".join(relative.parts[:-1])
        if folder:
            entry = section.find(f"- `{folder}/`")
            line = section[entry : section.find("\n", entry)] if entry >= 0 else ""
            if f"`{path.name}`" not in line:
                missing.append(str(relative))
        elif f"`{path.name}`" not in section:
            missing.append(str(relative))
    assert not missing, f"README's Architecture section does not name: {', '.join(missing)}"


def test_the_readme_diagram_names_every_room_of_the_contract() -> None:
    config = (ROOT / ".importlinter").read_text(encoding="utf-8")
    layers = config.split("layers =", 1)[1].split("\n\n", 1)[0]
    rooms = [name.strip() for line in layers.splitlines() for name in line.split("|")]
    diagram = _architecture_section().split("```mermaid", 1)[1].split("```", 1)[0]
    for room in filter(None, rooms):
        assert room in diagram, f"the README's diagram does not show {room}"
