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

#: every name a template may use; nothing else ever reaches a template
ALLOWED_NAMES = frozenset(
    {
        "partnership_name",
        "reference",
        "activity_type",
        "activity_title",
        "task_title",
        "agency_name",
        "recipient_name",
        "deadline",
        "working_days_left",
        "deadline_text",
        "link",
        "items",
    }
)
#: the keys of each entry of ``items`` (digests); nothing else reaches a template
ITEM_NAMES = frozenset(
    {
        "reference",
        "activity_type",
        "task_title",
        "agency_name",
        "deadline",
        "deadline_text",
        "days_overdue",
        "link",
    }
)
#: messages whose names start with this may use ``items``
DIGEST_PREFIX = "digest_"
#: subjects travel in clear: only these
SUBJECT_NAMES = frozenset({"reference", "activity_type"})
#: the names a caller passes; ``partnership_name`` is added by :class:`Templates`
CONTEXT_NAMES = ALLOWED_NAMES - {"partnership_name"}

#: obviously fictional values for every name a caller passes, used by :meth:`Templates.check`
SAMPLE_CONTEXT: dict[str, object] = {
    "reference": "MAA-2026-001",
    "activity_type": "Multi-agency themed audit",
    "activity_title": "Themed audit: neglect (fictional)",
    "task_title": "Single-agency audit return",
    "agency_name": "Northshire Constabulary (fictional)",
    "recipient_name": "Sam Sample (fictional)",
    "deadline": "Mon 29 Dec 2025",
    "working_days_left": 3,
    "deadline_text": "3 working days left",
    "link": "http://127.0.0.1:8000/activities/MAA-2026-001",
    "items": [
        {
            "reference": "MAA-2026-001",
            "activity_type": "Multi-agency themed audit",
            "task_title": "Single-agency audit return: Northshire Constabulary (fictional)",
            "agency_name": "Northshire Constabulary (fictional)",
            "deadline": "Mon 22 Dec 2025",
            "deadline_text": "3 working days overdue",
            "days_overdue": 3,
            "link": "http://127.0.0.1:8000/activities/MAA-2026-001",
        },
        {
            "reference": "MAA-2026-002",
            "activity_type": "Multi-agency themed audit",
            "task_title": "Single-agency audit return: Northshire Health Board (fictional)",
            "agency_name": "Northshire Health Board (fictional)",
            "deadline": "Fri 2 Jan 2026",
            "deadline_text": "4 working days left",
            "days_overdue": None,
            "link": "http://127.0.0.1:8000/activities/MAA-2026-002",
        },
    ],
}
#: what changes in the context of a message about something without a (running) deadline
NO_DEADLINE: dict[str, object] = {"deadline": "", "working_days_left": None, "deadline_text": ""}

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


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


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
                f"{where}: items[{i}]: key(s) not allowed: {_names(map(str, extra))}; "
                f"allowed: {_names(ITEM_NAMES)}"
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
                f"{self._where(name)}: context name(s) not allowed: {_names(map(str, extra))}"
                f"{note}; allowed: {_names(CONTEXT_NAMES)}"
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
                    f"{self._where(file)}: uses {_names(unknown)}, not allowed in a template "
                    f"(allowed: {_names(ALLOWED_NAMES)})"
                )
                broken.add(file)
            item_problems = _ItemUses(self._where(file)).run(ast)
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
                        f"{_names(used & ALLOWED_NAMES - SUBJECT_NAMES)}; subjects travel "
                        f"in clear and may use only {_names(SUBJECT_NAMES)}"
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
                            f"{_names(users)}); only digests ({DIGEST_PREFIX}<name>) may"
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


# ---------------------------------------------------------------------- following items
#: what an expression holds, as far as ``items`` goes
_PLAIN = "plain"  # anything not derived from items (or a single allowed value of an entry)
_LIST = "list"  # a list of entries: items, a slice of it, a group's list
_ITEM = "item"  # one entry: a dict with the keys of ITEM_NAMES
_GROUPS = "groups"  # items|groupby(key)
_GROUP = "group"  # one (grouper, list) of a groupby
_LOOP_ITEMS = "loop_items"  # ``loop`` in a for over a list of entries
_LOOP_GROUPS = "loop_groups"  # ``loop`` in a for over groups

#: filters on a list of entries whose attribute (if any) must be an item key, and what
#: they give: (kind of result, attribute required)
_LIST_FILTERS: dict[str, tuple[str, bool]] = {
    "length": (_PLAIN, False),
    "count": (_PLAIN, False),
    "first": (_ITEM, False),
    "last": (_ITEM, False),
    "list": (_LIST, False),
    "reverse": (_LIST, False),
    "sort": (_LIST, False),
    "unique": (_LIST, False),
    "selectattr": (_LIST, True),
    "rejectattr": (_LIST, True),
    "groupby": (_GROUPS, True),
    "map": (_PLAIN, True),
    "join": (_PLAIN, False),
    "sum": (_PLAIN, True),
    "min": (_ITEM, False),
    "max": (_ITEM, False),
}
#: filters whose first positional argument is the attribute
_ATTRIBUTE_FIRST = frozenset({"selectattr", "rejectattr", "groupby"})
_GROUPS_FILTERS: dict[str, str] = {
    "length": _PLAIN,
    "count": _PLAIN,
    "first": _GROUP,
    "last": _GROUP,
    "list": _GROUPS,
    "reverse": _GROUPS,
}


def _show(node: nodes.Node) -> str:
    """A short rendering of an expression for a problem line."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_show(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        arg = repr(node.arg.value) if isinstance(node.arg, nodes.Const) else "..."
        return f"{_show(node.node)}[{arg}]"
    if isinstance(node, nodes.Filter):
        base = _show(node.node) if node.node is not None else "..."
        return f"{base}|{node.name}"
    if isinstance(node, nodes.Call):
        return f"{_show(node.node)}(...)"
    return type(node).__name__.lower()


class _ItemUses:
    """Follows ``items`` through one template and reports what an entry cannot give.

    A deliberately small abstract interpretation: names bound from ``items`` (loop
    variables, ``set``, ``groupby`` groups, ``loop.previtem``) are tracked by kind, and any
    attribute or key of an entry outside :data:`ITEM_NAMES`, or any use the check cannot
    follow (an entry passed to a macro, unpacked, filtered, put in a list...), is reported.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def run(self, ast: nodes.Template) -> list[str]:
        self._body(ast.body, {"items": _LIST})
        return sorted(set(self.problems))

    def _report(self, node: nodes.Node, what: str) -> None:
        self.problems.append(
            f"{self.where}: line {node.lineno}: {what}; an entry of items has only "
            f"{_names(ITEM_NAMES)}"
        )

    def _unfollowed(self, node: nodes.Node) -> None:
        self._report(
            node, f"uses {_show(node)} in a way the check cannot follow (loop over items instead)"
        )

    # -- statements ------------------------------------------------------------------
    def _body(self, body: Iterable[nodes.Node], scope: dict[str, str]) -> None:
        for node in body:
            self._stmt(node, scope)

    def _bind(self, target: nodes.Node, kind: str, scope: dict[str, str]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = kind
            return
        if kind != _PLAIN:
            self._report(target, "unpacks something taken from items")
        for name in target.find_all(nodes.Name):
            scope[name.name] = _PLAIN

    def _stmt(self, node: nodes.Node, scope: dict[str, str]) -> None:
        if isinstance(node, nodes.Expr):
            self._expr(node, scope)
        elif isinstance(node, nodes.For):
            self._for(node, scope)
        elif isinstance(node, nodes.Assign):
            kind = self._expr(node.node, scope)
            target = node.target
            if kind == _PLAIN and isinstance(target, nodes.Name) and target.name in scope:
                return  # never forget a name bound from items: scopes are not modelled exactly
            self._bind(target, kind, scope)
        elif isinstance(node, nodes.AssignBlock):
            self._body(node.body, dict(scope))  # renders to text: nothing is bound from items
        elif isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values, strict=False):
                self._bind(target, self._expr(value, scope), inner)
            self._body(node.body, inner)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            inner = dict(scope)
            for default in node.defaults:
                if self._expr(default, scope) != _PLAIN:
                    self._unfollowed(default)
            for arg in node.args:
                inner[arg.name] = _PLAIN
            inner["caller"] = _PLAIN
            if isinstance(node, nodes.CallBlock):
                self._expr(node.call, scope)
            self._body(node.body, inner)
        elif isinstance(node, nodes.If):
            self._expr(node.test, scope)
            self._body(node.body, scope)
            for elif_ in node.elif_:
                self._stmt(elif_, scope)
            self._body(node.else_, scope)
        elif isinstance(node, nodes.Output):
            for printed in node.nodes:
                self._expr(printed, scope)  # printing an entry shows only its allowed keys
        else:
            for child in node.iter_child_nodes():
                self._stmt(child, scope)

    def _for(self, node: nodes.For, scope: dict[str, str]) -> None:
        over = self._expr(node.iter, scope)
        inner = dict(scope)
        if over == _LIST:
            self._bind(node.target, _ITEM, inner)
            inner["loop"] = _LOOP_ITEMS
        elif over == _GROUPS:
            target = node.target
            if isinstance(target, nodes.Tuple) and len(target.items) == 2:
                self._bind(target.items[0], _PLAIN, inner)
                self._bind(target.items[1], _LIST, inner)
            else:
                self._bind(target, _GROUP, inner)
            inner["loop"] = _LOOP_GROUPS
        else:
            if over not in (_PLAIN, _ITEM):  # an entry's keys are harmless
                self._unfollowed(node.iter)
            self._bind(node.target, _PLAIN, inner)
            inner["loop"] = _PLAIN
        if node.test is not None:
            self._expr(node.test, inner)
        self._body(node.body, inner)
        self._body(node.else_, scope)

    # -- expressions -----------------------------------------------------------------
    def _plain(self, node: nodes.Node | None, scope: dict[str, str]) -> None:
        if node is not None and self._expr(node, scope) != _PLAIN:
            self._unfollowed(node)

    def _join(self, node: nodes.Node, kinds: Iterable[str]) -> str:
        found = set(kinds) - {_PLAIN}
        if len(found) > 1:
            self._unfollowed(node)
            return _PLAIN
        return found.pop() if found else _PLAIN

    def _expr(self, node: nodes.Node, scope: dict[str, str]) -> str:
        if isinstance(node, nodes.Name):
            return scope.get(node.name, _PLAIN) if node.ctx == "load" else _PLAIN
        if isinstance(node, nodes.Getattr):
            return self._attr(node, self._expr(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            return self._item(node, self._expr(node.node, scope), scope)
        if isinstance(node, nodes.Filter):
            return self._filter(node, scope)
        if isinstance(node, nodes.Test):
            self._expr(node.node, scope)  # a test only answers yes or no
            self._args(node, scope)
            return _PLAIN
        if isinstance(node, nodes.Call):
            callee = node.node
            if (
                isinstance(callee, nodes.Getattr)
                and callee.attr == "changed"
                and self._expr(callee.node, scope) in (_LOOP_ITEMS, _LOOP_GROUPS)
            ):
                for arg in node.args:  # loop.changed(...) only compares
                    self._expr(arg, scope)
                return _PLAIN
            if self._expr(callee, scope) != _PLAIN:
                self._unfollowed(node)
            self._args(node, scope)
            return _PLAIN
        if isinstance(node, nodes.CondExpr):
            if node.test is not None:
                self._expr(node.test, scope)
            other = self._expr(node.expr2, scope) if node.expr2 is not None else _PLAIN
            return self._join(node, (self._expr(node.expr1, scope), other))
        if isinstance(node, (nodes.And, nodes.Or)):
            return self._join(node, (self._expr(node.left, scope), self._expr(node.right, scope)))
        if isinstance(node, (nodes.Not, nodes.Compare, nodes.Operand, nodes.Concat)):
            for child in node.iter_child_nodes():  # yes or no, or text: nothing escapes
                self._expr(child, scope)
            return _PLAIN
        for child in node.iter_child_nodes():
            self._plain(child, scope)
        return _PLAIN

    def _args(self, node: nodes.Call | nodes.Filter | nodes.Test, scope: dict[str, str]) -> None:
        for arg in node.args:
            self._plain(arg, scope)
        for kwarg in node.kwargs:
            self._plain(kwarg.value, scope)
        self._plain(node.dyn_args, scope)
        self._plain(node.dyn_kwargs, scope)

    def _attr(self, node: nodes.Node, base: str, attr: str) -> str:
        if base == _PLAIN:
            return _PLAIN
        if base == _ITEM:
            if attr not in ITEM_NAMES:
                self._report(node, f"uses {_show(node)}")
            return _PLAIN
        if base == _GROUP and attr in ("grouper", "list"):
            return _PLAIN if attr == "grouper" else _LIST
        if base == _LOOP_ITEMS:
            return _ITEM if attr in ("previtem", "nextitem") else _PLAIN
        if base == _LOOP_GROUPS:
            return _GROUP if attr in ("previtem", "nextitem") else _PLAIN
        self._unfollowed(node)
        return _PLAIN

    def _item(self, node: nodes.Getitem, base: str, scope: dict[str, str]) -> str:
        arg = node.arg
        if base == _PLAIN:
            self._plain(arg, scope)
            return _PLAIN
        const = arg.value if isinstance(arg, nodes.Const) else None
        if base == _ITEM and isinstance(const, str):
            return self._attr(node, base, const)
        if base in (_GROUP, _LOOP_ITEMS, _LOOP_GROUPS) and isinstance(const, str):
            return self._attr(node, base, const)
        if base == _GROUP and const in (0, 1) and not isinstance(const, bool):
            return _PLAIN if const == 0 else _LIST
        if base in (_LIST, _GROUPS):
            element = _ITEM if base == _LIST else _GROUP
            if isinstance(const, int) and not isinstance(const, bool):
                return element
            if isinstance(arg, nodes.Slice):
                for child in arg.iter_child_nodes():
                    self._plain(child, scope)
                return base
        if base == _ITEM:
            self._report(node, f"uses {_show(node)}")
        else:
            self._unfollowed(node)
        return _PLAIN

    def _filter(self, node: nodes.Filter, scope: dict[str, str]) -> str:
        base = self._expr(node.node, scope) if node.node is not None else _PLAIN
        self._args(node, scope)
        if base == _PLAIN:
            return _PLAIN
        if base == _GROUPS and node.name in _GROUPS_FILTERS and not node.args:
            return _GROUPS_FILTERS[node.name]
        if base == _LIST and node.name in _LIST_FILTERS:
            result, needs = _LIST_FILTERS[node.name]
            attributes: list[nodes.Node] = [k.value for k in node.kwargs if k.key == "attribute"]
            if node.name in _ATTRIBUTE_FIRST and node.args:
                attributes.append(node.args[0])
            if needs and not attributes:
                self._unfollowed(node)
            for attribute in attributes:
                value = attribute.value if isinstance(attribute, nodes.Const) else None
                if value not in ITEM_NAMES:
                    shown = repr(value) if value is not None else "a computed name"
                    self._report(node, f"uses {_show(node)} on {shown}")
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                self._unfollowed(node)
            return result
        self._unfollowed(node)
        return _PLAIN
