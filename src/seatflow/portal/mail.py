"""Mail for the portal (invitations, password resets): ``seatflow.mail`` (SMTP, or the log), shared with the
operator's notifications."""

from __future__ import annotations

from seatflow.mail import send_mail

__all__ = ["send_mail"]
