"""Following a digest's ``items`` through a template: which attributes and keys of an
entry it uses, so that a template asking an entry for anything outside
:data:`~sef_workflow.notify.allowlist.ITEM_NAMES` fails the check."""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import nodes

from .allowlist import ITEM_NAMES, names_text

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


class ItemUses:
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
            f"{names_text(ITEM_NAMES)}"
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
