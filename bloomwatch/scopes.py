"""What each token may do: four scopes, and the one that every request needs.

A token written `name=token` (as before scopes existed) holds every scope, so deployments that set
tokens before keep working; `name:read+label=token` holds only the scopes named. The dashboard's
token is a browser cookie, the easiest token to abuse (a forged click, a shared machine), so it
holds `read` and `label` only: it can show the dashboard and correct a label, never silence
alerts or write the retraining audit.

The scope a request needs follows from its method and path, failing closed: every read is `read`,
the two ingest routes name theirs, `/classify` (a POST that changes nothing) is `read`, and any
other state-changing route is `admin`, so a write route added later needs `admin` until it is
named here. docs/security.md has the table.
"""

from __future__ import annotations

READ, INGEST, LABEL, ADMIN = "read", "ingest", "label", "admin"
SCOPES = (READ, INGEST, LABEL, ADMIN)
EVERY_SCOPE = frozenset(SCOPES)
DASHBOARD_SCOPES = frozenset({READ, LABEL})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITE_SCOPES = {("POST", "/documents"): INGEST, ("POST", "/labels"): LABEL, ("POST", "/classify"): READ}


class ScopeError(ValueError):
    """A token entry names a scope that does not exist."""


def required_scope(method: str, path: str) -> str:
    """The scope a request needs: `read` for reads, the route's own for known writes, else `admin`."""
    if method.upper() in SAFE_METHODS:
        return READ
    return _WRITE_SCOPES.get((method.upper(), path), ADMIN)


def permits(scopes: frozenset[str], needed: str) -> bool:
    """`admin` holds every other scope too: an operator's token need not list them all."""
    return needed in scopes or ADMIN in scopes


def split_scopes(name: str) -> tuple[str, frozenset[str]]:
    """`name` or `name:scope+scope` -> (name, scopes); a name without scopes holds every scope."""
    name, colon, listed = name.partition(":")
    if not colon:
        return name.strip(), EVERY_SCOPE
    scopes = frozenset(scope.strip() for scope in listed.split("+") if scope.strip())
    if unknown := sorted(scopes - EVERY_SCOPE):
        raise ScopeError(f"unknown scope {', '.join(unknown)} (scopes: {', '.join(SCOPES)})")
    if not scopes:
        raise ScopeError(f"no scope after ':' (scopes: {', '.join(SCOPES)})")
    return name.strip(), scopes
