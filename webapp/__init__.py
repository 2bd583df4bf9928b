"""The Flask application factory (flaskr style): config, extensions, blueprints and CLI."""
from __future__ import annotations

import logging
import os

from flask import Flask, g

from .config import Config


def create_app(test_config: dict | None = None) -> Flask:
    if not os.environ.get("SECRET_KEY"):
        try:
            from dotenv import load_dotenv

            load_dotenv()
        except ImportError:  # pragma: no cover
            pass
    app = Flask(__name__, instance_relative_config=True)
    config = Config()
    missing = config.missing_production_secrets()
    if missing:
        # Anyone could sign webhooks or inbound mail with the development values published in the code.
        raise RuntimeError("SECRET_KEY is set (production) but these are still development values: "
                           + ", ".join(missing))
    app.config.from_mapping(config.as_dict())
    if test_config:
        app.config.update(test_config)
    if app.config.get("TRUSTED_PROXIES"):
        # Behind a load balancer: take the client address and scheme from its headers (login limits per IP).
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SQL parameters carry personal data (R4): never logged unless asked for explicitly.
    logging.getLogger("peewee").setLevel("DEBUG" if os.environ.get("LOG_SQL") == "1" else "WARNING")
    for name in ("rq.worker", "rq.scheduler"):  # rq logs through its own handler: print each line once
        if logging.getLogger(name).handlers:
            logging.getLogger(name).propagate = False

    from models import db
    from models.base import connect_database

    connect_database(app.config["DATABASE_URL"])

    @app.before_request
    def _open_db():
        db.connect(reuse_if_open=True)
        # `g` outlives a request when an app context was already pushed (tests, CLI): never let
        # one request's login or CSRF token leak into the next.
        g.pop("_login_user", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    @app.teardown_appcontext
    def _close_db(exc):
        if not db.is_closed() and not db.in_transaction():
            db.close()

    from .extensions import csrf, login_manager, mail

    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    from redis import Redis

    app.extensions["redis"] = Redis.from_url(app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)

    import models.registration  # noqa: F401 - registers the registration code confirmer (R3.2)
    import models.seconds  # noqa: F401 - registers the "second" code confirmer (R9.3.4)
    from jobs import init_jobs

    init_jobs()
    _register_blueprints(app)
    _register_cli(app)
    _register_template_helpers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from . import health, inbound_mail, line

    app.register_blueprint(line.bp)
    app.register_blueprint(inbound_mail.bp)
    app.register_blueprint(health.bp)
    from .extensions import csrf

    csrf.exempt(line.bp)
    csrf.exempt(inbound_mail.bp)
    for module_name, attr in (("webapp.public", "bp"), ("webapp.console", "bp"), ("webapp.drafts", "bp"),
                              ("webapp.public_consultations", "bp"),
                              ("webapp.agency_links", "bp")):
        try:
            module = __import__(module_name, fromlist=[attr])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        if not hasattr(module, attr):
            continue
        app.register_blueprint(getattr(module, attr))
        if hasattr(module, "init_app"):
            module.init_app(app)
    if app.config.get("LINE_SIMULATOR"):
        if not app.config.get("PRODUCTION"):  # the mailbox of the development SMTP sink only
            from . import dev_mail

            app.register_blueprint(dev_mail.bp)
        try:
            from .dev_line import dev_line_bp
        except ModuleNotFoundError:
            return
        app.register_blueprint(dev_line_bp)
        csrf.exempt(dev_line_bp)


def _register_cli(app: Flask) -> None:
    from .cli import register_commands

    register_commands(app)


def _register_template_helpers(app: Flask) -> None:
    from models.base import format_taipei

    app.jinja_env.filters["taipei"] = format_taipei

    @app.context_processor
    def _public_sections():
        return {"has_consultations": "public_consultations.index" in app.view_functions}
