"""The workflows in force: the current files of the folder, and every pinned version an
activity started on, each compiled once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DefinitionError
from .model import Workflow
from .workflow_file import load_file, parse_workflow


class Registry:
    """The current workflow files, and every pinned version asked for since start-up."""

    def __init__(
        self,
        directory: Path,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        config_origin: str = "config",
        validate: Callable[[Workflow], None] | None = None,
    ) -> None:
        self.directory = directory
        self.parameters = {k: dict(v) for k, v in (parameters or {}).items()}
        self.config_origin = config_origin
        self.validate = validate
        self._current: dict[str, Workflow] | None = None
        self._pinned: dict[tuple[str, str], Workflow] = {}

    def current(self) -> dict[str, Workflow]:
        """Every workflow in the folder, validated; the first invalid file raises."""
        if self._current is None:
            if not self.directory.is_dir():
                raise DefinitionError(f"{self.directory}: workflow folder not found")
            found: dict[str, Workflow] = {}
            for path in sorted(self.directory.glob("*.toml")):
                wf = load_file(path, self.parameters.get(path.stem), self.config_origin)
                if self.validate is not None:
                    self.validate(wf)
                found[wf.name] = wf
                self._pinned[(wf.name, wf.version)] = wf
            for name in self.parameters:
                if name not in found:
                    raise ConfigError(
                        f"{self.config_origin}: key 'workflow_parameters.{name}': no workflow "
                        f"named '{name}' (workflows: {', '.join(found)})"
                    )
            self._current = found
        return self._current

    def get(self, name: str) -> Workflow:
        workflows = self.current()
        if name not in workflows:
            from ..errors import NotFound

            raise NotFound(f"no workflow named '{name}' (workflows: {', '.join(workflows)})")
        return workflows[name]

    def pinned(
        self, name: str, version: str, source: str, parameters: Mapping[str, Any]
    ) -> Workflow:
        """The compiled definition an activity started on, built once per version."""
        key = (name, version)
        wf = self._pinned.get(key)
        if wf is None:
            wf = from_stored(name, version, source, parameters)
            self._pinned[key] = wf
        return wf


def from_stored(name: str, version: str, source: str, parameters: Mapping[str, Any]) -> Workflow:
    """Rebuild a stored definition with the parameter choices it was pinned with."""
    overrides: dict[str, Any] = {}
    for k, v in parameters.items():
        if k.endswith("__choice"):
            overrides[k.removesuffix("__choice")] = v
    for k, v in parameters.items():
        if not k.endswith("__choice") and f"{k}__choice" not in parameters:
            overrides[k] = v
    wf = parse_workflow(source, f"{name}@{version}", overrides)
    wf.version = version
    return wf
