"""What a handler needs to know about the outside world, without reaching into Flask."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from models.base import utcnow


@dataclass
class BotContext:
    user_id: str
    allowed_domains: list[str]
    reply_domain: str
    base_url: str
    secret_key: str
    now: dt.datetime = field(default_factory=utcnow)
    settings: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config, user_id: str, now: dt.datetime | None = None) -> BotContext:
        return cls(user_id=user_id, allowed_domains=list(config["ALLOWED_EMAIL_DOMAINS"]),
                   reply_domain=config["REPLY_DOMAIN"], base_url=config["PUBLIC_BASE_URL"],
                   secret_key=config["SECRET_KEY"], now=now or utcnow(), settings=dict(config))
