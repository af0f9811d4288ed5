"""The ``sef`` command line: coordinators run activities from here.

This module owns the root group ``main`` and its global options (``--config``, ``--as``,
``--version``) and attaches the command groups, one module each:

- ``db_config_templates``: ``db``, ``config``, ``templates``
- ``agencies_staff``: ``agencies``, ``staff``
- ``directory``: ``directory`` (the directory log)
- ``workflows_forms``: ``workflows``, ``forms``
- ``activity``, ``task``, ``assessment``, ``judgements``
- ``finding_action``: ``finding``, ``action``
- ``report``
- ``outbox_mail``: ``outbox``, ``mail``
- ``worker_sweep_status``: ``worker``, ``sweep``, ``status``
- ``serve``, ``evidence_pack`` (``evidence-pack``), ``simulate``, ``demo``

What they share (the context, actor resolution, exit codes, tables) is in ``context``.

Exit codes: 0 done; 1 unexpected error; 2 bad usage; 3 configuration error; 4 not found;
5 trigger not allowed in this state (or a guard refused); 6 someone else changed the record
first; 7 permission denied; 8 invalid input; 9 invalid workflow definition or template;
10 the mail server did not take a message.

Heavy modules are imported inside the commands so that ``sef --help`` stays quick.
"""

from __future__ import annotations

import click

from . import (
    activity,
    agencies_staff,
    assessment,
    db_config_templates,
    demo,
    directory,
    evidence_pack,
    finding_action,
    inbox,
    judgements,
    outbox_mail,
    report,
    serve,
    simulate,
    task,
    worker_sweep_status,
    workflows_forms,
)
from .context import EXIT_CODES_HELP, Context, SefGroup

__all__ = ["main"]


@click.group(cls=SefGroup, epilog=EXIT_CODES_HELP)
@click.option(
    "--config",
    "config",
    envvar="SEF_CONFIG",
    type=click.Path(dir_okay=False),
    help="Settings file (default: config.toml at the project root; env SEF_CONFIG).",
)
@click.option(
    "--as",
    "actor",
    envvar="SEF_ACTOR",
    metavar="EMAIL",
    help="Who is acting: a staff member's or agency contact's email (env SEF_ACTOR).",
)
@click.version_option(package_name="sef-workflow", prog_name="sef")
@click.pass_context
def main(ctx: click.Context, config: str | None, actor: str | None) -> None:
    """sef-workflow: run a Safeguarding Children Partnership's quality-assurance activities.

    Open activities (audits, practice reviews, Section 11 cycles, action plans, report
    requests), move them through their lifecycle, and see every agency's task with its
    deadline in working days.
    """
    ctx.obj = Context(config, actor)


for command in (
    db_config_templates.db,
    db_config_templates.config_group,
    db_config_templates.templates,
    agencies_staff.agencies,
    agencies_staff.staff,
    directory.directory,
    workflows_forms.workflows,
    workflows_forms.forms_group,
    activity.activity,
    task.task,
    inbox.inbox,
    assessment.assessment,
    judgements.judgements,
    finding_action.finding,
    finding_action.action,
    report.report,
    outbox_mail.outbox,
    outbox_mail.mail,
    worker_sweep_status.worker,
    worker_sweep_status.sweep,
    worker_sweep_status.status,
    evidence_pack.evidence_pack_command,
    serve.serve,
    simulate.simulate,
    demo.demo,
):
    main.add_command(command)


def run() -> None:  # pragma: no cover - console entry point
    main()
