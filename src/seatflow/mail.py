"""Sending mail: SMTP when SEATFLOW_SMTP_HOST is set, otherwise the message goes to the log, so a demo or a test can
read it there. The portal's invitations and resets and the operator's notifications (``seatflow.events``) use it."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from seatflow.config import Settings

log = logging.getLogger("seatflow.mail")


def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> None:
    if not settings.smtp_host:
        log.info("mail (no SMTP server configured) to=%s subject=%r\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)
    log.info("mail sent to=%s subject=%r", to, subject)
