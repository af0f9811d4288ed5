"""``sef outbox`` and ``sef mail``: the emails waiting, sent and failed, their delivery and
retry; the embedded mail catcher's messages and a test send through the SMTP server."""

from __future__ import annotations

import click

from .context import Context, pass_ctx, print_table


@click.group()
def outbox() -> None:
    """Emails waiting, sent and failed; deliver them; retry failures."""


@outbox.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "sent", "failed", "all"]),
    default="all",
    show_default=True,
    help="Only emails in this state.",
)
@click.option("--activity", "activity_ref", metavar="REF", help="Only this activity's emails.")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many.")
@pass_ctx
def outbox_list(c: Context, status: str, activity_ref: str | None, limit: int) -> None:
    """List emails in the outbox, newest first, with why any failed."""
    from ..calendar import format_moment
    from ..notify.delivery import list_outbox
    from ..views import EMAIL_STATUS_WORDS, template_title, words

    c.service  # noqa: B018  (checks the schema)
    rows = list_outbox(c.app.db, None if status == "all" else status, activity_ref, limit)
    cal = c.app.calendar
    print_table(
        [
            (
                str(n.id),
                ref or "-",
                template_title(n.template, n.subject)[:50],
                n.to_addr,
                EMAIL_STATUS_WORDS.get(n.status, words(n.status)),
                str(n.attempts),
                format_moment(n.created_at, cal.tz),
                (n.last_error or "")[:60],
            )
            for n, ref in rows
        ],
        ("ID", "ACTIVITY", "EMAIL", "TO", "STATUS", "TRIES", "QUEUED", "LAST ERROR"),
    )


@outbox.command("show")
@click.argument("notification_id", type=int)
@click.option("--body", is_flag=True, help="Print the text body too.")
@pass_ctx
def outbox_show(c: Context, notification_id: int, body: bool) -> None:
    """Show one email: headers, state, and every delivery attempt with the server's reply."""
    from ..calendar import format_moment
    from ..notify.delivery import get_notification
    from ..views import email_state, recipient_text, template_title

    c.service  # noqa: B018
    n, attempts = get_notification(c.app.db, notification_id)
    cal = c.app.calendar
    tries = f"{n.attempts} attempt{'' if n.attempts == 1 else 's'}"
    click.echo(f"email {n.id}: {template_title(n.template, n.subject)} ({tries})")
    click.echo(f"  Queued: {format_moment(n.created_at, cal.tz)}; {email_state(n, cal)}")
    click.echo(f"  Message-ID: {n.message_id}")
    click.echo(f"  To: {n.to_addr} ({recipient_text(n.recipient_role)})")
    if n.cc_addrs:
        click.echo(f"  Cc: {', '.join(n.cc_addrs)}")
    click.echo(f"  Subject: {n.subject}")
    click.echo(f"  Calendar invite: {'yes' if n.ics else 'no'}")
    if n.fallback_of:
        click.echo(f"  Fallback for email {n.fallback_of}")
    if n.last_error:
        click.echo(f"  Last error: {n.last_error}")
    click.echo("  Attempts:")
    for a in attempts:
        at = format_moment(a.at, cal.tz)
        code = f" {a.code}" if a.code else ""
        click.echo(f"    {at}  {a.worker}  {a.outcome}{code}  {a.detail or ''}".rstrip())
    if not attempts:
        click.echo("    (none yet)")
    if body:
        click.echo("")
        click.echo(n.text_body)


@outbox.command("retry")
@click.argument("notification_ids", type=int, nargs=-1, required=True)
@pass_ctx
def outbox_retry(c: Context, notification_ids: tuple[int, ...]) -> None:
    """Put failed emails back in the queue to be sent now."""
    from ..service import Actor

    actor = c.actor() if c.actor_email else Actor(id="cli", role="coordinator", name="CLI")
    for nid in notification_ids:
        c.service.retry_email(actor, nid)
        click.echo(f"email {nid}: queued again")


@outbox.command("deliver")
@click.option(
    "--until-empty/--once",
    default=True,
    show_default=True,
    help="Keep claiming batches until nothing is due, or do one batch.",
)
@pass_ctx
def outbox_deliver(c: Context, until_empty: bool) -> None:
    """Send what is due now through the configured SMTP server.

    With no smtp.host the embedded mail catcher runs for the duration and keeps each
    message under mail.catcher_dir (see: sef mail list).
    """
    from ..notify.delivery import deliver_due

    c.service  # noqa: B018
    total = deliver_due(
        c.app.db, c.app.settings, c.app.service.clock, until_empty=until_empty, echo=click.echo
    )
    click.echo(f"sent {total.sent}, retrying later {total.retrying}, failed {total.failed}")


@click.group()
def mail() -> None:
    """The embedded mail catcher's messages, and a test send through the SMTP server."""


@mail.command("list")
@pass_ctx
def mail_list(c: Context) -> None:
    """List the messages the embedded mail catcher kept, oldest first."""
    from ..calendar import format_moment
    from ..notify.catcher import list_messages

    folder = c.app.settings.catcher_dir()
    rows = [
        (
            str(i),
            format_moment(m.date, c.app.calendar.tz) if m.date else "-",
            m.to,
            m.subject,
        )
        for i, m in enumerate(list_messages(folder), start=1)
    ]
    print_table(rows, ("N", "DATE", "TO", "SUBJECT"))


@mail.command("show")
@click.argument("which", default="-1")
@click.option("--raw", is_flag=True, help="Print the whole message as received.")
@pass_ctx
def mail_show(c: Context, which: str, raw: bool) -> None:
    """Show message WHICH (its number in `sef mail list`, its file name, or -1 for the last)."""
    from ..notify.catcher import read_message

    msg = read_message(c.app.settings.catcher_dir(), which)
    if raw:
        click.echo(msg.as_string())
        return
    for header in ("Date", "From", "To", "Cc", "Subject", "Message-ID"):
        if msg[header]:
            click.echo(f"{header}: {msg[header]}")
    body = msg.get_body(("plain",))
    attachments = [part.get_filename() for part in msg.iter_attachments()]
    if attachments:
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
    click.echo("")
    click.echo(body.get_content() if body is not None else "(no text part)")


@mail.command("test")
@click.option("--to", "to_addr", required=True, metavar="ADDRESS", help="Where to send it.")
@pass_ctx
def mail_test(c: Context, to_addr: str) -> None:
    """Send one test message through the configured server and say what the server replied."""
    from ..notify.delivery import send_test_message

    ok, report = send_test_message(c.app.db, c.app.settings, c.app.service.clock, to_addr)
    click.echo(report)
    if not ok:
        from ..errors import DeliveryError

        raise DeliveryError("the test message was not accepted")


@mail.command("catcher")
@pass_ctx
def mail_catcher(c: Context) -> None:
    """Run the embedded mail catcher in the foreground (Ctrl-C to stop)."""
    import threading

    from ..notify.catcher import MailCatcher

    catcher = MailCatcher.from_settings(c.app.settings)
    stop = threading.Event()
    with catcher:
        click.echo(
            f"mail catcher on 127.0.0.1:{catcher.port}, keeping messages in "
            f"{c.app.settings.catcher_dir()}; Ctrl-C to stop"
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            click.echo("stopped")
