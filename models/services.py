"""The collaborators the domain is handed once at start-up (by the app factory, the worker, a test).

The domain never reads Flask's `current_app`: links, the reply domain, the signing secret, the
Redis client for rate limits and the after-commit hook arrive here, through `configure()`.
Until configured, links are relative, the reply domain is empty, rate limits are off (the
database stays the truth) and committed outbox rows wait for the sweep.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Services:
    public_base_url: str = ""  # where links in chats and emails point
    reply_domain: str = ""  # verify+TOKEN@REPLY_DOMAIN
    secret_key: str | None = None  # signs agency answer links
    redis: Any = None  # a redis.Redis for rate limits, or None (limits off)
    # Called with the outbox ids of a transaction once it has committed (jobs hand them to a worker).
    after_commit: Callable[[list[int]], None] | None = None


_current = Services()


def configure(**values: Any) -> Services:
    """Set the collaborators (only those given); returns the whole set."""
    for name, value in values.items():
        if not hasattr(_current, name):
            raise TypeError(f"unknown collaborator: {name}")
        setattr(_current, name, value)
    return _current


def reset() -> Services:
    """Back to the unconfigured defaults (a test that builds no app must not inherit another's)."""
    global _current
    _current = Services()
    return _current


def current() -> Services:
    return _current


def secret_key() -> str:
    """The signing secret; refusing to sign with none is safer than signing with a default."""
    if not _current.secret_key:
        raise RuntimeError("models.services.configure(secret_key=...) was never called")
    return _current.secret_key
