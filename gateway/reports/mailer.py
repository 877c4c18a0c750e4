"""Reports as email messages, and their sending through the SMTP server of ``CG_SMTP_URL``.

One message per recipient, so that each carries its own unsubscribe link, also
as ``List-Unsubscribe`` with RFC 8058's one-click POST, which mail clients show
as their own button. ``smtp://`` requires STARTTLS before any login or message
(a server that does not offer it is refused rather than sent to in clear);
``smtps://`` is TLS from the first byte; the certificate is always checked.
smtplib blocks, so callers run :func:`send` off the event loop.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from gateway.exceptions import ReportError
from gateway.reports.trust_render import AnyReport, html_of, subject_of, text_of
from gateway.settings import Settings
from gateway.settings_reports import SmtpServer

TIMEOUT = 30.0  # seconds for the connection and each SMTP command


@dataclass(frozen=True)
class Outgoing:
    """One message and its one recipient."""

    to: str
    message: EmailMessage


def compose(settings: Settings, report: AnyReport, to: str, unsubscribe_url: str) -> Outgoing:
    """The report (a site's or the trust's) for ``to``: plain text with an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = subject_of(report)
    message["From"] = settings.report_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.report_from.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    message.set_content(text_of(report, unsubscribe_url))
    message.add_alternative(html_of(report, unsubscribe_url), subtype="html")
    return Outgoing(to, message)


def send(settings: Settings, messages: list[Outgoing]) -> None:
    """Send every message over one connection; :class:`ReportError` says what failed."""
    server = settings.smtp_url
    if server is None or not settings.report_from:
        raise ReportError(
            "Email reports need CG_SMTP_URL (the mail server) and CG_REPORT_FROM (the sender); "
            "set both."
        )
    where = f"the mail server {server.host}:{server.port}"
    try:
        with _connect(server, settings.smtp_ca_file) as smtp:
            for outgoing in messages:
                smtp.send_message(outgoing.message, settings.report_from, [outgoing.to])
    except smtplib.SMTPAuthenticationError:
        raise ReportError(f"{where} refused the user and password of CG_SMTP_URL.") from None
    except smtplib.SMTPRecipientsRefused as error:
        refused = ", ".join(error.recipients)
        raise ReportError(f"{where} refused the recipient {refused}.") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
        raise ReportError(f"Could not send through {where}: {_reason(error)}") from None


def _connect(server: SmtpServer, ca_file: str) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=ca_file or None)
    smtp: smtplib.SMTP
    if server.tls == "implicit":
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
    try:
        smtp.ehlo()
        if server.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "it does not offer STARTTLS, and smtp:// sends nothing in clear (use "
                    "smtps:// if it takes TLS from the start)."
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        if server.username:
            smtp.login(server.username, str(server.password))
    except BaseException:
        smtp.close()
        raise
    return smtp


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        said = error.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        return f"it answered {error.smtp_code} {text}."
    text = str(error) or type(error).__name__
    return text if text.endswith(".") else text + "."
