"""``sef workflows`` and ``sef forms``: check and show the workflow definitions, the
assessment forms and their grading scales."""

from __future__ import annotations

import click

from .context import Context, pass_ctx


@click.group()
def workflows() -> None:
    """The workflow definitions in workflows/*.toml."""


@workflows.command("check")
@pass_ctx
def workflows_check(c: Context) -> None:
    """Validate every workflow file; the first problem is named with file and key.

    Besides the graph (every state reachable, no dead end or trap), every guard is checked
    against who is offered its transition: that role can satisfy it, or has a transition to
    ask those who can (a send back with a reason), or the ladder chases them. A role
    offered a transition it could never get past fails the check (exit code 9)."""
    for wf in c.app.registry.current().values():
        click.echo(
            f"{wf.name}: ok ({len(wf.states)} states, {len(wf.transitions)} transitions, "
            f"{len(wf.tasks)} task kinds, version {wf.version})"
        )


@workflows.command("show")
@click.argument("name")
@click.option("--mermaid", "mermaid_only", is_flag=True, help="Print only the Mermaid diagram.")
@pass_ctx
def workflows_show(c: Context, name: str, mermaid_only: bool) -> None:
    """Show a workflow's states, transitions, task kinds and a Mermaid stateDiagram-v2."""
    wf = c.app.registry.get(name)
    if mermaid_only:
        click.echo(wf.mermaid())
        return
    click.echo(
        f"{wf.title} ({wf.name}, reference {wf.reference_prefix}-YYYY-NNN, version {wf.version})"
    )
    if wf.description:
        click.echo(wf.description)
    click.echo("\nStates:")
    for s in wf.states.values():
        marks = " (start)" if s.name == wf.initial else ""
        marks += " (final)" if s.final else ""
        click.echo(f"  {s.name:<24} {s.title}{marks}")
    click.echo("\nTransitions:")
    for t in wf.transitions:
        extra = []
        if t.guards:
            extra.append("guards " + ", ".join(t.guards))
        if t.inputs:
            extra.append(
                "inputs " + ", ".join(i.name + ("" if i.required else "?") for i in t.inputs)
            )
        if t.creates:
            extra.append("creates " + ", ".join(t.creates))
        if t.notify:
            extra.append("notifies " + ", ".join(f"{n.template}->{n.to}" for n in t.notify))
        dest = "(stays)" if t.dest == "=" else t.dest
        click.echo(f"  {t.trigger:<24} {'|'.join(t.sources)} -> {dest}  [{', '.join(t.roles)}]")
        for e in extra:
            click.echo(f"  {'':<24}   {e}")
    if wf.tasks:
        click.echo("\nTask kinds:")
        for k in wf.tasks.values():
            deadline = "no deadline"
            if k.deadline:
                d = k.deadline
                deadline = f"{d.amount} {d.unit.replace('_', ' ')} {d.direction} {d.basis}" + (
                    "" if d.waivable else ", not waivable"
                )
            click.echo(f"  {k.name:<24} {k.title} ({k.assignee}; {deadline})")
    click.echo("\n```mermaid")
    click.echo(wf.mermaid())
    click.echo("```")


@click.group("forms")
def forms_group() -> None:
    """Assessment forms and grading scales (forms/*.toml)."""


@forms_group.command("check")
@pass_ctx
def forms_check(c: Context) -> None:
    """Validate the grading scales and every form; the first problem is named with file and key."""
    forms = c.app.forms
    for scale in forms.scales().values():
        levels = ", ".join(f"{lv.key} ({lv.colour})" for lv in scale.levels)
        click.echo(f"scale {scale.name}: ok ({levels})")
    for form in forms.forms().values():
        click.echo(
            f"form {form.name}: ok ({form.purpose}, {len(form.standards)} standards, "
            f"{len(form.questions())} questions, scales {', '.join(form.scales)}, "
            f"version {form.version})"
        )


@forms_group.command("show")
@click.argument("name")
@pass_ctx
def forms_show(c: Context, name: str) -> None:
    """Show a form's standards and questions, and the written definitions of its scale."""
    forms = c.app.forms
    form = forms.get(name)
    click.echo(f"{form.title} ({form.name}, {form.purpose}, version {form.version})")
    if form.description:
        click.echo(form.description)
    scale = forms.scale(form.scale)
    click.echo(f"\nScale {scale.name} (default; also allowed: {', '.join(form.scales)}):")
    for lv in scale.levels:
        click.echo(f"  {lv.key:22} {lv.label}: {lv.definition}")
    for standard in form.standards:
        click.echo(f"\nStandard {standard.key}: {standard.title}")
        for q in standard.questions:
            need = "required" if q.required else "optional"
            click.echo(f"  {q.number:<22} {q.text} [{need}; evidence {q.evidence}]")
