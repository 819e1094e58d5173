"""API keys: made, listed, revoked and checked.

A key reads ``crm_<prefix>_<secret>``. The prefix is public (it is shown by
``keys list`` and finds the row); the secret has 256 bits of entropy, so a
plain SHA-256 of it is enough at rest (no slow password hash is needed for
a random secret) and a stolen table does not give working keys.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_api.models import ApiKey
from sync_api.services.clock import utcnow

KEY_PREFIX = "crm"
SCOPES = ("sales:write", "sales:read", "complaints:write", "reports:read", "admin")
# admin may do everything the other scopes allow.
ADMIN_SCOPE = "admin"


class KeyRefused(Exception):
    """A key cannot be made or revoked as asked."""


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, name: str, scopes: list[str], source: str | None = None
) -> NewKey:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise KeyRefused(
            f"Unknown or missing scope {', '.join(unknown)}; "
            f"choose among {', '.join(SCOPES)}."
        )
    if not name.strip():
        raise KeyRefused("A key needs a name.")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=" ".join(sorted(set(scopes))),
        source=source or None,
        created_at=utcnow(),
    )
    session.add(key)
    session.commit()
    return NewKey(key=key, token=f"{KEY_PREFIX}_{prefix}_{secret}")


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, prefix: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise KeyRefused(f"No key with prefix {prefix}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    return key


def find_key(session: Session, token: str) -> ApiKey | None:
    """Return the live key a bearer token names, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    _, prefix, secret = parts
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    return key


def has_scope(key: ApiKey, scope: str) -> bool:
    scopes = key.scope_set
    return scope in scopes or ADMIN_SCOPE in scopes
