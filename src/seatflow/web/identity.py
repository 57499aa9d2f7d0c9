"""The web side of identity, one implementation for the console and the portal (``seatflow.auth`` holds the
rest): the session cookie, CSRF checks, and the small request facts every page needs.

- **Session cookie**: the random token of ``auth.sessions``; HttpOnly, SameSite=Lax, Secure behind https, scoped
  to the surface's path.
- **CSRF after login**: every form carries the session's own token, compared in constant time.
- **CSRF before login** (login, invitation and reset forms): a signed double-submit. The cookie holds a random
  nonce; the form holds ``<nonce>.<HMAC of the nonce and the surface>`` with the instance's key
  (``auth.signing``). A POST passes when the cookie is there, the form's nonce is the cookie's and the signature is
  seatflow's: a cookie planted by another site (or a sibling domain) carries no valid signature, and a signature
  for the console's forms is worth nothing on the portal's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from seatflow.auth import signing
from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.web.deps import clock_of

EXPIRED_FORM = "This form has expired or did not come from seatflow. Reload the page."


def secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def now_of(request: Request) -> datetime:
    clock: Clock = clock_of(request)
    return clock.now()


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def csrf_matches(expected: str, submitted: str | None) -> bool:
    """A logged-in form's token against its session's."""
    return bool(submitted) and secrets.compare_digest(str(submitted).encode(), expected.encode())


def _key(request: Request, session: Session, settings: Settings) -> bytes:
    cached = getattr(request.app.state, "signing_key", None)
    if isinstance(cached, bytes):
        return cached
    key = signing.instance_key(session, settings.secret_key)
    request.app.state.signing_key = key
    return key


@dataclass(frozen=True)
class Surface:
    """A web surface with logins of its own (the console, the portal): its path and cookies."""

    prefix: str
    session_cookie: str
    csrf_cookie: str
    session_hours: int

    # --- the session -------------------------------------------------------------------------------------------

    def session_token(self, request: Request) -> str | None:
        return request.cookies.get(self.session_cookie)

    def start_session(self, response: Response, request: Request, settings: Settings, token: str) -> None:
        response.set_cookie(
            self.session_cookie,
            token,
            max_age=self.session_hours * 3600,
            httponly=True,
            samesite="lax",
            secure=secure(request, settings),
            path=self.prefix,
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(self.session_cookie, path=self.prefix)

    # --- forms before login ------------------------------------------------------------------------------------

    def anonymous_form(self, request: Request, session: Session, settings: Settings) -> tuple[str, str]:
        """The cookie's nonce (kept if the browser has one) and the token for the form."""
        nonce = request.cookies.get(self.csrf_cookie) or ""
        if not (0 < len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum() and nonce.isascii()):
            nonce = secrets.token_urlsafe(24)  # none yet, or not one of ours (a '.' would spoil the form's token)
        return nonce, f"{nonce}.{signing.sign(_key(request, session, settings), self._purpose, nonce)}"

    def with_anonymous_cookie(self, response: Response, request: Request, settings: Settings, nonce: str) -> Response:
        response.set_cookie(
            self.csrf_cookie, nonce, httponly=True, samesite="lax", secure=secure(request, settings), path=self.prefix
        )
        return response

    def anonymous_form_valid(self, request: Request, session: Session, settings: Settings, token: str | None) -> bool:
        cookie = request.cookies.get(self.csrf_cookie)
        if not token or not cookie or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return secrets.compare_digest(nonce.encode(), cookie.encode()) and signing.valid(
            _key(request, session, settings), self._purpose, nonce, signature
        )

    @property
    def _purpose(self) -> str:
        return f"csrf {self.prefix}"
