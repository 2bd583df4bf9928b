"""The app on the test PostgreSQL database, real Redis (db 15), the LINE stand-in and the SMTP sink."""
from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient

# Each test session flushes its Redis database before every test; two sessions on one machine (a
# developer's run beside CI) would flush each other's rate-limit counters, so each picks one of
# databases 1-13 by process id (14 is the login-limit tests', 15 and 0 are left for people).
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{1 + os.getpid() % 13}")


@pytest.fixture
def app_config(schema, line_standin, smtp):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": schema,
        "REDIS_URL": TEST_REDIS_URL,
        "RQ_ASYNC": False,
        "LINE_API_ENDPOINT": line_standin.url,
        "LINE_CHANNEL_SECRET": "test-channel-secret",
        "LINE_CHANNEL_ACCESS_TOKEN": "test-access-token",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_USE_TLS": False,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "平臺 <noreply@platform.localhost>",
        "INBOUND_EMAIL_SECRET": "test-inbound-secret",
        "MAILGUN_SIGNING_KEY": "test-mailgun-key",
        "REPLY_DOMAIN": "reply.platform.test",
        "ALLOWED_EMAIL_DOMAINS": ["taichung.gov.tw"],
        "PUBLIC_BASE_URL": "http://localhost",
        "LINE_SIMULATOR": True,
        "SESSION_COOKIE_SECURE": False,
    }


class BufferedClient(FlaskClient):
    """Every response read whole, and its iterator closed, as the request returns (Werkzeug's `buffered`).

    A streamed response (open data) that a test never reads keeps its request and app contexts pushed
    inside a live generator; the garbage collector closed it whenever it ran, sometimes in the middle of
    a later test's request, which then failed on "Popped wrong request context" (CI, once). A test that
    looks at the streaming itself asks for `buffered=False` and reads the body."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def app(db, app_config):
    from redis import Redis

    Redis.from_url(TEST_REDIS_URL).flushdb()
    from webapp import create_app

    application = create_app(app_config)
    application.test_client_class = BufferedClient
    with application.app_context():
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(params=["postgresql", "sqlite"])
def similar_backend(request, db, tmp_path):
    """The database a similar-proposal test runs on (R9.1.4): PostgreSQL with the search index, or a
    fresh SQLite database, the development default's portable path (the proxy is rebound, then back)."""
    from models import similar

    if request.param == "postgresql":
        similar.ensure_search_index()
        assert similar.search_ready()
        yield "postgresql"
        return
    from models.base import connect_database
    from webapp.schema import create_schema

    original = db.obj
    sqlite = connect_database(f"sqlite:///{tmp_path}/similar.db")
    try:
        create_schema()
        similar.ensure_search_index()  # a no-op on SQLite
        assert not similar.search_ready()
        yield "sqlite"
    finally:
        sqlite.close()
        db.initialize(original)
