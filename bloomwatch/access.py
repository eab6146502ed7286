"""Who may call BloomWatch's HTTP APIs, how much one request may carry, and how often a client may
call: one policy for every server (the worker's API and ingest, `bloomwatch ingest`, the
dashboard, the classifier servers), so the rules and their answers are the same everywhere.

Tokens (docs/security.md): `BLOOMWATCH_API_TOKENS` ("name=token,name=token"; a bare token is the
client "default"; `name:read+label=token` limits a token to those scopes, bloomwatch/scopes.py), a
file of such lines (`BLOOMWATCH_API_TOKENS_FILE`), and `BLOOMWATCH_DASHBOARD_TOKEN` (the client
"dashboard", scopes read and label). With none set every request is let through, as on a single
machine behind 127.0.0.1. A request proves itself with `Authorization: Bearer <token>`; the
dashboard page may also be opened with `?token=` once, and the page's own calls then carry it in a
cookie. Each presented token is compared with every known one in constant time, so the answer's
timing does not tell how much of a guess was right. The client a token names is the actor the
servers record (an annotator, who silenced or acknowledged), whatever the request body claims.

With or without tokens, the aiohttp servers (worker, ingest, dashboard) refuse what a page on
another site could make a browser send them (bloomwatch/browser.py: DNS rebinding, CSRF).

Rate limits count per client (the token's name, or the caller's address when no token is asked
for), in the `limits` library's notation ("20/second;600/minute"), in this process's memory.
Health probes stay open: load balancers and container health checks carry no token.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from aiohttp import web
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bloomwatch.browser import BrowserGuard, Refused, parse_allowed_hosts
from bloomwatch.errors import ExpectedError
from bloomwatch.scopes import DASHBOARD_SCOPES, READ, ScopeError, permits, required_scope, split_scopes
from bloomwatch.setting_groups import AccessSettings

TOKEN_COOKIE = "bloomwatch_dashboard_token"
DASHBOARD_PAGE = "/dashboard"  # the one URL that may bring `?token=` (a browser cannot send a header)
OPEN_PATHS = frozenset({"/health", "/healthz"})
OPEN_PREFIXES = ("/dashboard/static/",)  # the page's script, styles and ECharts: no data in them
AUTHENTICATED_CLIENT = "bloomwatch.client"  # the aiohttp request key of the token's client name


class TokenFileError(ExpectedError, ValueError):
    """The tokens setting or file is malformed: named, with its line, never with a token in it."""


class Credential(NamedTuple):
    token: str
    scopes: frozenset[str]


def parse_tokens(text: str, where: str) -> dict[str, Credential]:
    """client name -> its token and scopes, from "name[:scopes]=token" entries (commas or lines; '#' comments)."""
    tokens: dict[str, Credential] = {}
    entries = [entry.strip() for line in text.splitlines() for entry in line.split("#", 1)[0].split(",")]
    for number, entry in enumerate(entries, 1):
        if not entry:
            continue
        name, _, token = entry.partition("=") if "=" in entry else ("default", "", entry)
        try:
            name, scopes = split_scopes(name)
        except ScopeError as error:
            raise TokenFileError(f"{where}: entry {number}: {error}") from None
        token = token.strip()
        if not name or not token:
            raise TokenFileError(f"{where}: entry {number} is not name=token")
        if name in tokens:
            raise TokenFileError(f"{where}: client {name!r} is given twice")
        tokens[name] = Credential(token, scopes)
    return tokens


def configured_tokens(access: AccessSettings) -> dict[str, Credential]:
    """Every token the servers accept, by client name, from the settings and the tokens file."""
    tokens: dict[str, Credential] = {}
    sources: list[tuple[str, str]] = []
    if access.api_tokens is not None:
        sources.append((access.api_tokens.get_secret_value(), "BLOOMWATCH_API_TOKENS"))
    if access.api_tokens_file is not None:
        sources.append((Path(access.api_tokens_file).read_text(), str(access.api_tokens_file)))
    parsed = [(parse_tokens(text, where), where) for text, where in sources]
    if access.dashboard_token is not None:  # its own scopes: a browser cookie may read and label only
        dashboard = Credential(access.dashboard_token.get_secret_value(), DASHBOARD_SCOPES)
        parsed.append(({"dashboard": dashboard}, "BLOOMWATCH_DASHBOARD_TOKEN"))
    for credentials, where in parsed:
        for name, credential in credentials.items():
            if name in tokens:
                raise TokenFileError(f"{where}: client {name!r} is given twice")
            tokens[name] = credential
    return tokens


def client_token(access: AccessSettings) -> str | None:
    """The token BloomWatch's own clients send: BLOOMWATCH_CLIENT_TOKEN, else the first configured."""
    if access.client_token is not None:
        return access.client_token.get_secret_value()
    return next((credential.token for credential in configured_tokens(access).values()), None)


def client_headers(access: AccessSettings) -> dict[str, str]:
    """Headers for a request to a BloomWatch server (empty when no token is configured)."""
    token = client_token(access)
    return {"Authorization": f"Bearer {token}"} if token else {}


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization.removeprefix("Bearer ").strip()
    return None


@dataclass(frozen=True)
class Denial:
    """Why a request is refused: its status, a message for the caller, and headers (Retry-After)."""

    status: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class AccessPolicy:
    tokens: Mapping[str, Credential]  # client name -> token and scopes; empty: no token asked for
    rate_limits: list[RateLimitItem]  # each applies per client; empty: no limit
    max_body_bytes: int
    guard: BrowserGuard = field(default_factory=lambda: BrowserGuard(frozenset()))
    _limiter: MovingWindowRateLimiter = field(default_factory=lambda: MovingWindowRateLimiter(MemoryStorage()))

    @classmethod
    def from_settings(cls, access: AccessSettings) -> AccessPolicy:
        return cls(
            tokens=configured_tokens(access),
            rate_limits=parse_many(access.rate_limit) if access.rate_limit else [],
            max_body_bytes=access.max_body_bytes,
            guard=BrowserGuard(parse_allowed_hosts(access.allowed_hosts)),
        )

    @staticmethod
    def is_open(path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def client_of(self, presented: str | None) -> str | None:
        """The name of the client whose token was presented; every token is compared, in constant time."""
        found = None
        given = (presented or "").encode()
        for name, credential in self.tokens.items():
            if hmac.compare_digest(given, credential.token.encode()) and presented:
                found = name
        return found

    def check(
        self, presented: str | None, remote: str | None, content_length: int | None, needs: str = READ
    ) -> str | Denial:
        """The client's name if the request may go on, else the Denial to answer with; `needs`: the
        scope the request needs (bloomwatch.scopes.required_scope)."""
        if self.tokens:
            client = self.client_of(presented)
            if client is None:
                reason = "missing" if not presented else "wrong"
                return Denial(401, f"{reason} API token: send Authorization: Bearer <token> (docs/security.md)",
                              {"WWW-Authenticate": 'Bearer realm="bloomwatch"'})  # fmt: skip
            if not permits(scopes := self.tokens[client].scopes, needs):
                return Denial(403, f"client {client!r} has scopes {', '.join(sorted(scopes))}; this request needs"
                                   f" {needs!r} (docs/security.md)")  # fmt: skip
        else:
            client = f"address {remote or 'unknown'}"
        if content_length is not None and content_length > self.max_body_bytes:
            return Denial(413, f"request body of {content_length} bytes; the limit is {self.max_body_bytes}"
                               " (BLOOMWATCH_MAX_BODY_BYTES)")  # fmt: skip
        if denial := self._rate_limited(client):
            return denial
        return client

    def _rate_limited(self, client: str) -> Denial | None:
        if all(self._limiter.test(limit, client) for limit in self.rate_limits):
            for limit in self.rate_limits:
                self._limiter.hit(limit, client)
            return None
        exhausted = [limit for limit in self.rate_limits if not self._limiter.test(limit, client)]
        reset = max(self._limiter.get_window_stats(limit, client).reset_time for limit in exhausted)
        wait_s = max(1, math.ceil(reset - time.time()))
        return Denial(429, f"rate limit {'; '.join(str(limit) for limit in exhausted)} reached for {client};"
                           f" retry in {wait_s}s", {"Retry-After": str(wait_s)})  # fmt: skip


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def aiohttp_middleware(policy: AccessPolicy):
    """The policy on an aiohttp application (worker web server, ingest server, dashboard server).

    Errors are JSON `{"error": message}`, like the rest of these APIs; a body that turns out larger
    than the application's `client_max_size` while it is read gets the same 413 answer.
    """

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if policy.is_open(request.path):
            return await handler(request)
        try:
            headers = request.headers
            policy.guard.check(request.method, headers.get("Host"), headers.get("Origin"), headers.get("Content-Type"))
        except Refused as refused:
            return web.json_response({"error": str(refused)}, status=refused.status)
        presented = (
            bearer_token(request.headers.get("Authorization"))
            or (request.query.get("token") if request.path == DASHBOARD_PAGE else None)
            or request.cookies.get(TOKEN_COOKIE)
        )
        needs = required_scope(request.method, request.path)
        verdict = policy.check(presented, request.remote, request.content_length, needs)
        if isinstance(verdict, Denial):
            return web.json_response({"error": verdict.message}, status=verdict.status, headers=dict(verdict.headers))
        if policy.tokens:
            request[AUTHENTICATED_CLIENT] = verdict
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge as exc:
            return web.json_response({"error": f"{exc.text} (BLOOMWATCH_MAX_BODY_BYTES)"}, status=413)

    return access


def actor(request: web.Request, claimed: str) -> str:
    """Who did it: the client whose token the request carried, else (no tokens) what it claims."""
    return request.get(AUTHENTICATED_CLIENT) or claimed
