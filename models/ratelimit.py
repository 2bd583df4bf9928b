"""Abuse limits on emailed codes (R9.3.4): fixed windows in Redis (INCR + EXPIRE).

Redis only *throttles*; it never decides what counts. The database constraints stay the truth
(one second per official and proposal, one pending code per subject, five wrong tries per code),
so when Redis is unavailable every request is allowed and the failure is logged (STYLE.md:
"Losing Redis loses nothing").

A limit is checked before the action (`over`) and counted only once the action happened
(`hit`), so a refused or rolled-back request, a double tap answered "already sent", or a LINE
redelivery (stopped earlier by `webhookEventId`) never uses up an official's allowance.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from . import services
from .base import DomainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: int  # seconds
    message: str  # zh-TW; {minutes} is the time until the window ends


# R9.3.4 seconding codes: generous for a person, tight for a script.
SECOND_CODES_PER_OFFICIAL = Limit("second-req", 5, 10 * 60,
                                  "您在短時間內要求了太多附議認證碼，請 {minutes} 分鐘後再試。")
SECOND_CODES_PER_PROPOSAL = Limit("second-req-p", 3, 60 * 60,
                                  "這個提案的附議認證碼已寄送多次，請查看信箱中最新的一封，或 {minutes} 分鐘後再試。")
WRONG_CODES_PER_OFFICIAL = Limit("code-wrong", 10, 60 * 60,
                                 "認證碼輸入錯誤次數過多，為保護您的帳號，請 {minutes} 分鐘後再試。")

_warned_at = 0.0


def _redis():
    """The Redis client handed over at start-up (`services.configure(redis=...)`), or None: limits off."""
    provider = services.current().redis
    return provider() if callable(provider) else provider


def _warn(exc: Exception) -> None:
    global _warned_at
    # At most one line a minute: a Redis outage during a seconding storm must not flood the log.
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        log.warning("rate limits not enforced: Redis unavailable (%s)", type(exc).__name__)


def _key(limit: Limit, *parts: object) -> str:
    return "rl:" + ":".join([limit.name, *map(str, parts)])


def over(limit: Limit, *parts: object) -> bool:
    """Whether this window's allowance is used up (False when Redis cannot answer)."""
    return _first_over([(limit, parts)]) is not None


def _first_over(checks: list[tuple[Limit, tuple]]) -> tuple[Limit, tuple] | None:
    """The first of these limits whose allowance is used up, read in one round trip (MGET); None
    when none is, or when Redis cannot answer."""
    redis = _redis()
    if redis is None:
        return None
    try:
        used = redis.mget([_key(limit, *parts) for limit, parts in checks])
    except Exception as exc:  # noqa: BLE001 - any Redis failure: allow, log
        _warn(exc)
        return None
    return next((check for check, count in zip(checks, used, strict=True)
                 if count is not None and int(count) >= check[0].limit), None)


def hit(limit: Limit, *parts: object) -> int:
    """Count one use; the window starts at the first use (not at a clock boundary, where a burst
    could straddle two windows and get twice the allowance). Returns the count (0 without Redis)."""
    return _hit_all([(limit, parts)])[0]


def _hit_all(uses: list[tuple[Limit, tuple]]) -> list[int]:
    """`hit` for several limits in one round trip (one MULTI/EXEC)."""
    redis = _redis()
    if redis is None:
        return [0] * len(uses)
    try:
        pipe = redis.pipeline(transaction=True)
        for limit, parts in uses:
            key = _key(limit, *parts)
            pipe.set(key, 0, ex=limit.window, nx=True)
            pipe.incr(key)  # INCR keeps the key's expiry
        replies = pipe.execute()
        return [int(count) for count in replies[1::2]]
    except Exception as exc:  # noqa: BLE001
        _warn(exc)
        return [0] * len(uses)


def _seconds_left(limit: Limit, *parts: object) -> int:
    redis = _redis()
    try:
        ttl = int(redis.ttl(_key(limit, *parts))) if redis is not None else -1
    except Exception:  # noqa: BLE001
        ttl = -1
    return ttl if ttl > 0 else limit.window


def refuse_if_over(limit: Limit, *parts: object) -> None:
    """Raise the limit's zh-TW answer when its allowance is used up."""
    _refuse_if_any_over([(limit, parts)])


def _refuse_if_any_over(checks: list[tuple[Limit, tuple]]) -> None:
    """Raise the answer of the first of these limits whose allowance is used up."""
    found = _first_over(checks)
    if found is not None:
        limit, parts = found
        minutes = max(1, -(-_seconds_left(limit, *parts) // 60))
        raise DomainError(limit.message.format(minutes=minutes), "rate_limited")


# --- the seconding code limits ----------------------------------------------------------------

def check_second_code_request(official_id: int, proposal_id: int) -> None:
    """Before a seconding code is issued: per official, per official and proposal, and wrong codes."""
    _refuse_if_any_over([(WRONG_CODES_PER_OFFICIAL, (official_id,)), (SECOND_CODES_PER_OFFICIAL, (official_id,)),
                         (SECOND_CODES_PER_PROPOSAL, (official_id, proposal_id))])  # one round trip, not three


def count_second_code_request(official_id: int, proposal_id: int) -> None:
    """After a seconding code was issued."""
    _hit_all([(SECOND_CODES_PER_OFFICIAL, (official_id,)), (SECOND_CODES_PER_PROPOSAL, (official_id, proposal_id))])


def check_code_attempt(official_id: int) -> None:
    """Before a typed code is checked (wired in bot.dispatch): refuse while wrong codes are over the limit."""
    refuse_if_over(WRONG_CODES_PER_OFFICIAL, official_id)


def count_wrong_code(official_id: int) -> None:
    """After a typed code was wrong (wired in bot.dispatch)."""
    hit(WRONG_CODES_PER_OFFICIAL, official_id)
