"""Every setting from the environment (names as INTERFACES.md states), with development defaults."""
from __future__ import annotations

import os
import secrets


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    def __init__(self) -> None:
        env = os.environ
        self.PRODUCTION = bool(env.get("SECRET_KEY"))
        # Development: random per start, shared by the processes `platform-dev` starts (DEV_SECRET_KEY).
        self.SECRET_KEY = env.get("SECRET_KEY") or env.get("DEV_SECRET_KEY") or secrets.token_hex(32)
        self.DEV_MAIL_DIR = env.get("DEV_MAIL_DIR") or None
        self.DATABASE_URL = env.get("DATABASE_URL", "sqlite:///instance/platform.db")
        # Prepare repeated statements on the PostgreSQL server (models.prepared); 0 behind PgBouncer in transaction mode.
        self.DATABASE_PREPARE = _bool("DATABASE_PREPARE", True)
        self.REDIS_URL = env.get("REDIS_URL", "redis://localhost:6379/0")
        self.LINE_CHANNEL_SECRET = env.get("LINE_CHANNEL_SECRET", "dev-channel-secret")
        self.LINE_CHANNEL_ACCESS_TOKEN = env.get("LINE_CHANNEL_ACCESS_TOKEN", "dev-channel-access-token")
        self.LINE_API_ENDPOINT = env.get("LINE_API_ENDPOINT", "https://api.line.me").rstrip("/")
        self.MAIL_SERVER = env.get("MAIL_SERVER", "localhost")
        self.MAIL_PORT = int(env.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "臺中市政府公務人員政策參與平臺 <noreply@platform.localhost>")
        self.INBOUND_EMAIL_SECRET = env.get("INBOUND_EMAIL_SECRET", "dev-inbound-secret")
        self.MAILGUN_SIGNING_KEY = env.get("MAILGUN_SIGNING_KEY", self.INBOUND_EMAIL_SECRET)
        self.REPLY_DOMAIN = env.get("REPLY_DOMAIN", "platform.localhost")
        self.ALLOWED_EMAIL_DOMAINS = [
            d.strip().lower().lstrip("@") for d in env.get("ALLOWED_EMAIL_DOMAINS", "taichung.gov.tw").split(",") if d.strip()
        ]
        self.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL", "http://localhost:5000").rstrip("/")
        self.LINE_SIMULATOR = _bool("LINE_SIMULATOR", not self.PRODUCTION)
        # Run RQ jobs inline (tests, or a development machine without a worker).
        self.RQ_ASYNC = _bool("RQ_ASYNC", True)
        self.RQ_QUEUE = env.get("RQ_QUEUE", "taichung-platform")  # the workers' queue, named after the service
        # "listen": the webhook only stores events and NOTIFYs; the scheduler process's dispatcher
        # (LISTEN) hands them to the workers in batches. "direct": the webhook enqueues them itself.
        default_dispatch = "listen" if self.DATABASE_URL.startswith("postgres") and self.RQ_ASYNC else "direct"
        self.LINE_DISPATCH = env.get("LINE_DISPATCH", default_dispatch)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.PRODUCTION and self.PUBLIC_BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.METRICS_TOKEN = env.get("METRICS_TOKEN") or None  # /metrics from outside the network
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES", "0") or 0)
        self.LOGIN_LIMIT_PER_EMAIL = int(env.get("LOGIN_LIMIT_PER_EMAIL", "10"))
        self.LOGIN_LIMIT_PER_IP = int(env.get("LOGIN_LIMIT_PER_IP", "30"))
        self.LOGIN_LIMIT_WINDOW_SECONDS = int(env.get("LOGIN_LIMIT_WINDOW_SECONDS", str(15 * 60)))
        self.MAX_CONTENT_LENGTH = 12 * 1024 * 1024
        self.WTF_CSRF_TIME_LIMIT = None

    DEVELOPMENT_SECRETS = {
        "LINE_CHANNEL_SECRET": "dev-channel-secret",
        "LINE_CHANNEL_ACCESS_TOKEN": "dev-channel-access-token",
        "INBOUND_EMAIL_SECRET": "dev-inbound-secret",
    }

    def missing_production_secrets(self) -> list[str]:
        """Settings still at their public development values while SECRET_KEY says production."""
        if not self.PRODUCTION:
            return []
        return [name for name, dev_value in self.DEVELOPMENT_SECRETS.items() if getattr(self, name) == dev_value]

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}
