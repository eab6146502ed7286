"""What a web page on another site could make a visitor's browser do to a BloomWatch server, and
the checks that stop it, with or without tokens (no tokens is the default on one machine).

- DNS rebinding: a page at `rebind.evil.example`, whose name then resolves to 127.0.0.1, reads
  the API as its own origin. The browser still sends `Host: rebind.evil.example`, so only allowed
  names are answered: `localhost`, any IP address (a browser that asked for an address is not
  being rebound), and the names in `BLOOMWATCH_ALLOWED_HOSTS` (what a proxy or other containers
  call the server; `*` turns the check off).
- Cross-site request forgery: a form or `fetch(…, {mode: "no-cors"})` on another site can POST,
  but only as `text/plain`, a form or multipart body, and with the other site's `Origin`. A
  state-changing request must say `Content-Type: application/json` (which another site can only
  send after a CORS preflight that these servers never grant), and an `Origin`, when the browser
  sends one, must be this server itself or an allowed name.

Clients that are not browsers (the CLI, the worker's own clients, curl) send no `Origin` and
address the server as they were told to, so none of this gets in their way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from bloomwatch.scopes import SAFE_METHODS

ANY_HOST = "*"


class Refused(ValueError):
    """Why a browser-borne request is refused, with the status to answer it with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    """The comma-separated names of BLOOMWATCH_ALLOWED_HOSTS, lower-cased."""
    return frozenset(name.strip().lower() for name in setting.split(",") if name.strip())


def hostname(authority: str) -> str:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> the host alone, lower-cased."""
    if authority.startswith("["):
        return authority[1 : authority.find("]")].lower()
    return authority.rsplit(":", 1)[0].lower() if authority.count(":") == 1 else authority.lower()


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class BrowserGuard:
    allowed_hosts: frozenset[str]  # besides localhost and IP addresses

    def host_allowed(self, name: str) -> bool:
        return ANY_HOST in self.allowed_hosts or name in ("localhost", *self.allowed_hosts) or _is_address(name)

    def check(self, method: str, host: str | None, origin: str | None, content_type: str | None) -> None:
        """Raises Refused unless the request may go on (see the module's docstring)."""
        if host and not self.host_allowed(hostname(host)):
            raise Refused(403, f"host {hostname(host)!r} is not served here: add it to BLOOMWATCH_ALLOWED_HOSTS")
        if method.upper() in SAFE_METHODS:
            return
        if origin is not None and not self._same_or_allowed(origin, host):
            raise Refused(403, f"cross-origin request from {origin!r} refused")
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise Refused(415, f"send the body as Content-Type: application/json (got {media_type or 'none'!r})")

    def _same_or_allowed(self, origin: str, host: str | None) -> bool:
        authority = urlsplit(origin).netloc.lower()
        if not authority:  # "null": a sandboxed frame, a file, a redirect across sites
            return False
        return authority == (host or "").lower() or hostname(authority) in self.allowed_hosts
