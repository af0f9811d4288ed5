"""Email templates: an allow-listed context, rendered strictly.

A message is three files in the notifications folder: ``<name>.subject.j2`` (one line,
sent in clear), ``<name>.txt.j2`` and ``<name>.html.j2``. Files whose names start with
``_`` are layouts and partials (``_layout.html.j2`` is the one every HTML body extends).

Privacy by construction: a template sees only the names in :data:`ALLOWED_NAMES`, a
subject only those in :data:`SUBJECT_NAMES`. :meth:`Templates.render` refuses any other
key; :meth:`Templates.check` reads every template's source and reports any other name,
so a template that asks for a child's name fails the check rather than reaching a mailbox.

Digests (messages named ``digest_*``) list several items: the one name ``items`` is a list
of dicts whose keys are only those in :data:`ITEM_NAMES`. :meth:`Templates.render` refuses
an entry with any other key (or a value that is not a plain string or number), and
:meth:`Templates.check` follows ``items`` through the template (``{% for x in items %}``,
``groupby`` on an item key, ``loop.previtem``...) and reports ``x.child_name`` or any use it
cannot follow. Only digests may use ``items``; a digest's subject may use no name at all.
Rendering uses ``StrictUndefined`` (a missing value raises, it never prints as blank) in a
sandboxed environment without Jinja's globals: nothing but the context reaches a template.
HTML bodies are autoescaped; subjects and text bodies are not.

The allow-lists themselves are in :mod:`.allowlist`; following ``items`` through a
template is :mod:`.item_uses`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import DefinitionError
from .allowlist import (
    ALLOWED_NAMES,
    CONTEXT_NAMES,
    DIGEST_PREFIX,
    ITEM_NAMES,
    NO_DEADLINE,
    SAMPLE_CONTEXT,
    SUBJECT_NAMES,
    names_text,
)
from .item_uses import ItemUses

__all__ = [
    "ALLOWED_NAMES",
    "CONTEXT_NAMES",
    "DIGEST_PREFIX",
    "HTML_LAYOUT",
    "ITEM_NAMES",
    "MESSAGE_NAME_RE",
    "NO_DEADLINE",
    "SAMPLE_CONTEXT",
    "SUBJECT_MAX",
    "SUBJECT_NAMES",
    "SUFFIXES",
    "Rendered",
    "TemplateError",
    "Templates",
]

#: the layout every HTML body extends
HTML_LAYOUT = "_layout.html.j2"
#: the three files of a message, by part
SUFFIXES = {"subject": ".subject.j2", "text": ".txt.j2", "html": ".html.j2"}
SUBJECT_MAX = 200
MESSAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Rendered:
    """One message, ready for the outbox."""

    subject: str
    text: str
    html: str


class TemplateError(DefinitionError):
    """A template is missing or invalid, or was given a name outside the allow-list."""


def _one_line(subject: str) -> str:
    """Collapse every run of whitespace (newlines included) and cap the length."""
    line = " ".join(subject.split())
    if len(line) > SUBJECT_MAX:
        line = line[: SUBJECT_MAX - 1].rstrip() + "…"
    return line


def _is_http(value: object) -> bool:
    return str(value).startswith(("https://", "http://"))


def _checked_items(where: str, value: object) -> list[dict[str, str | int | None]]:
    """``items`` as plain dicts, or :class:`TemplateError` naming what is wrong."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise TemplateError(f"{where}: items must be a list of dicts, not {type(value).__name__}")
    out: list[dict[str, str | int | None]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise TemplateError(f"{where}: items[{i}] must be a dict, not {type(entry).__name__}")
        extra = [k for k in entry if k not in ITEM_NAMES]
        if extra:
            raise TemplateError(
                f"{where}: items[{i}]: key(s) not allowed: {names_text(map(str, extra))}; "
                f"allowed: {names_text(ITEM_NAMES)}"
            )
        clean: dict[str, str | int | None] = {}
        for key, v in entry.items():
            if key == "days_overdue":
                if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                    raise TemplateError(f"{where}: items[{i}].days_overdue must be an int or None")
            elif not isinstance(v, str):
                raise TemplateError(f"{where}: items[{i}].{key} must be a string")
            if key == "link" and not _is_http(v):
                raise TemplateError(f"{where}: items[{i}].link must be an http(s) address")
            clean[key] = v
        out.append(clean)
    return out


class Templates:
    """The message templates of one folder, compiled once and rendered on demand.

    A message is compiled on first use and kept: after editing the files, build a new
    :class:`Templates` (restart the service). :meth:`check` always reads the files afresh.
    """

    def __init__(self, directory: Path, partnership_name: str) -> None:
        self.directory = directory
        self.partnership_name = partnership_name
        self._label = directory.as_posix()
        self._loader = jinja2.FileSystemLoader(directory)
        self._env = ImmutableSandboxedEnvironment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False
            ),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        # nothing but the context reaches a template: no range(), namespace(), lipsum()...
        # (and the static check sees every name: jinja2.meta leaves globals out)
        self._env.globals.clear()
        self._compiled: dict[str, tuple[jinja2.Template, jinja2.Template, jinja2.Template]] = {}

    # ------------------------------------------------------------------ listing
    def _files(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return [f for f in self._loader.list_templates() if f.endswith(".j2")]

    def names(self) -> list[str]:
        """Every message name: those with a ``<name>.subject.j2``."""
        suffix = SUFFIXES["subject"]
        return sorted(
            f.removesuffix(suffix)
            for f in self._files()
            if "/" not in f and not f.startswith("_") and f.endswith(suffix)
        )

    def variables(self, name: str) -> frozenset[str]:
        """The names message ``name`` uses, layouts and includes counted (reads the files)."""
        asts, _ = self._parse_all()
        used: set[str] = set()
        for suffix in SUFFIXES.values():
            for file in self._closure(name + suffix, asts):
                used |= meta.find_undeclared_variables(asts[file])
        return frozenset(used)

    # ------------------------------------------------------------------ rendering
    def _where(self, file: str) -> str:
        return f"{self._label}/{file}"

    def _templates(self, name: str) -> tuple[jinja2.Template, jinja2.Template, jinja2.Template]:
        found = self._compiled.get(name)
        if found is not None:
            return found
        if not MESSAGE_NAME_RE.match(name):
            raise TemplateError(
                f"{self._where(name)}: not a message name (lower-case letters, digits and _)"
            )
        loaded: list[jinja2.Template] = []
        for suffix in SUFFIXES.values():
            file = name + suffix
            try:
                loaded.append(self._env.get_template(file))
            except jinja2.TemplateNotFound as exc:
                missing = exc.name if isinstance(exc.name, str) else file
                raise TemplateError(f"{self._where(missing)}: template not found") from None
            except jinja2.TemplateSyntaxError as exc:
                where = self._where(exc.name or file)
                raise TemplateError(f"{where}: line {exc.lineno}: {exc.message}") from None
        found = (loaded[0], loaded[1], loaded[2])
        self._compiled[name] = found
        return found

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Render message ``name``; every key of ``context`` must be an allowed name."""
        extra = [k for k in context if k not in CONTEXT_NAMES]
        if extra:
            note = (
                " (partnership_name is added by Templates itself)"
                if "partnership_name" in extra
                else ""
            )
            raise TemplateError(
                f"{self._where(name)}: context name(s) not allowed: {names_text(map(str, extra))}"
                f"{note}; allowed: {names_text(CONTEXT_NAMES)}"
            )
        link = context.get("link")
        if link is not None and not _is_http(link):
            raise TemplateError(f"{self._where(name)}: link must be an http(s) address")
        full = {**context, "partnership_name": self.partnership_name}
        if "items" in context:
            full["items"] = _checked_items(self._where(name), context["items"])
        subject_t, text_t, html_t = self._templates(name)
        parts: list[str] = []
        for template, suffix in zip((subject_t, text_t, html_t), SUFFIXES.values(), strict=True):
            try:
                parts.append(template.render(full))
            except jinja2.TemplateNotFound as exc:
                raise TemplateError(
                    f"{self._where(name + suffix)}: includes a missing template: {exc.name}"
                ) from exc
            except Exception as exc:
                raise TemplateError(f"{self._where(name + suffix)}: {exc}") from exc
        return Rendered(subject=_one_line(parts[0]), text=parts[1], html=parts[2])

    # ------------------------------------------------------------------ checking
    def _parse_all(self) -> tuple[dict[str, nodes.Template], dict[str, str]]:
        """Every template's syntax tree, and a problem for each one that does not parse."""
        asts: dict[str, nodes.Template] = {}
        problems: dict[str, str] = {}
        for file in self._files():
            try:
                source, _, _ = self._loader.get_source(self._env, file)
                asts[file] = self._env.parse(source, file)
            except jinja2.TemplateSyntaxError as exc:
                problems[file] = f"{self._where(file)}: line {exc.lineno}: {exc.message}"
            except (OSError, UnicodeDecodeError) as exc:
                problems[file] = f"{self._where(file)}: cannot read: {exc}"
        return asts, problems

    @staticmethod
    def _closure(file: str, asts: Mapping[str, nodes.Template]) -> list[str]:
        """``file`` and every template it extends, includes or imports, transitively."""
        seen: list[str] = []
        todo = [file]
        while todo:
            current = todo.pop()
            if current in seen or current not in asts:
                continue
            seen.append(current)
            todo.extend(
                ref for ref in meta.find_referenced_templates(asts[current]) if ref is not None
            )
        return seen

    @staticmethod
    def _extends_layout(file: str, asts: Mapping[str, nodes.Template]) -> bool:
        current, seen = file, set()
        while current in asts and current not in seen:
            seen.add(current)
            parents = [
                e.template.value
                for e in asts[current].find_all(nodes.Extends)
                if isinstance(e.template, nodes.Const) and isinstance(e.template.value, str)
            ]
            if not parents:
                return False
            if HTML_LAYOUT in parents:
                return True
            current = parents[0]
        return False

    def check(self, required: Iterable[str] = ()) -> list[str]:
        """Every problem with the templates, one line each, naming the file; [] if none."""
        if not self.directory.is_dir():
            return [f"{self._label}: template folder not found"]
        asts, unparsed = self._parse_all()
        problems = list(unparsed.values())
        #: files already reported: renders that touch them are not tried again
        broken = set(unparsed)
        #: the same settings with a cache of its own, so that the files on disk are checked
        fresh = self._env.overlay(cache_size=400)

        # names: the allow-list for every template, layouts and partials included
        for file, ast in sorted(asts.items()):
            unknown = meta.find_undeclared_variables(ast) - ALLOWED_NAMES
            if unknown:
                problems.append(
                    f"{self._where(file)}: uses {names_text(unknown)}, not allowed in a template "
                    f"(allowed: {names_text(ALLOWED_NAMES)})"
                )
                broken.add(file)
            item_problems = ItemUses(self._where(file)).run(ast)
            if item_problems:
                problems.extend(item_problems)
                broken.add(file)
            if any(ref is None for ref in meta.find_referenced_templates(ast)):
                problems.append(
                    f"{self._where(file)}: extends, includes or imports a template by a "
                    "computed name; name it literally so that it can be checked"
                )
                broken.add(file)

        # messages: three files each, subjects clear of everything but the reference
        messages: dict[str, set[str]] = {}
        for file in self._files():
            if "/" in file or file.startswith("_"):
                continue
            for part, suffix in SUFFIXES.items():
                if file.endswith(suffix):
                    messages.setdefault(file.removesuffix(suffix), set()).add(part)
                    break
            else:
                problems.append(
                    f"{self._where(file)}: neither a message file (<name>.subject.j2, "
                    "<name>.txt.j2, <name>.html.j2) nor a layout or partial (_<name>.j2)"
                )
        for name, parts in sorted(messages.items()):
            for part, suffix in SUFFIXES.items():
                if part not in parts:
                    problems.append(
                        f"{self._where(name + suffix)}: missing (message '{name}' needs "
                        f"{name}.subject.j2, {name}.txt.j2 and {name}.html.j2)"
                    )
            subject = name + SUFFIXES["subject"]
            if "subject" in parts:
                used: set[str] = set()
                for file in self._closure(subject, asts):
                    used |= meta.find_undeclared_variables(asts[file])
                if used & ALLOWED_NAMES - SUBJECT_NAMES:
                    problems.append(
                        f"{self._where(subject)}: uses "
                        f"{names_text(used & ALLOWED_NAMES - SUBJECT_NAMES)}; subjects travel "
                        f"in clear and may use only {names_text(SUBJECT_NAMES)}"
                    )
                    broken.add(subject)
            if not name.startswith(DIGEST_PREFIX):
                for suffix in SUFFIXES.values():
                    users = [
                        f
                        for f in self._closure(name + suffix, asts)
                        if "items" in meta.find_undeclared_variables(asts[f])
                    ]
                    if users:
                        problems.append(
                            f"{self._where(name + suffix)}: uses items (in "
                            f"{names_text(users)}); only digests ({DIGEST_PREFIX}<name>) may"
                        )
            html = name + SUFFIXES["html"]
            if html in asts and not self._extends_layout(html, asts):
                problems.append(f'{self._where(html)}: must {{% extends "{HTML_LAYOUT}" %}}')
            if not name or not MESSAGE_NAME_RE.match(name):
                problems.append(
                    f"{self._where(subject)}: '{name}' is not a message name "
                    "(lower-case letters, digits and _)"
                )
                continue
            if len(parts) == len(SUFFIXES):
                problems.extend(self._check_renders(fresh, name, asts, broken))

        for name in sorted(set(required) - set(messages)):
            problems.append(
                f"{self._where(name + SUFFIXES['subject'])}: missing: message '{name}' is "
                "required (by a workflow or the service) but has no templates"
            )
        return sorted(set(problems))

    def _check_renders(
        self,
        env: jinja2.Environment,
        name: str,
        asts: Mapping[str, nodes.Template],
        broken: set[str],
    ) -> list[str]:
        problems: list[str] = []
        sample = {**SAMPLE_CONTEXT, "partnership_name": self.partnership_name}
        contexts = (
            ("the sample context", sample),
            ("the sample context without a deadline", {**sample, **NO_DEADLINE}),
        )
        for suffix in SUFFIXES.values():
            file = name + suffix
            if set(self._closure(file, asts)) & broken:
                continue  # already reported
            for label, context in contexts:
                try:
                    out = env.get_template(file).render(context)
                except jinja2.TemplateNotFound as exc:
                    problems.append(
                        f"{self._where(file)}: extends or includes a missing template: {exc.name}"
                    )
                    break
                except jinja2.TemplateSyntaxError as exc:
                    where = self._where(exc.name or file)
                    problems.append(f"{where}: line {exc.lineno}: {exc.message}")
                    break
                except Exception as exc:
                    problems.append(f"{self._where(file)}: fails to render with {label}: {exc}")
                    break
                if suffix == SUFFIXES["subject"] and not _one_line(out):
                    problems.append(f"{self._where(file)}: renders an empty subject with {label}")
                    break
        return problems
