"""The application factory (flaskr style): config, the domain's collaborators, extensions,
blueprints and CLI, each registered here by a plain import."""
from __future__ import annotations

import logging
import os

from dotenv import load_dotenv
from flask import Flask, g
from redis import Redis
from werkzeug.middleware.proxy_fix import ProxyFix

from jobs.outbox import enqueue_outbox
from models import db, services, settings
from models.base import connect_database, format_taipei

from . import (
    agency_links,
    agency_respond,
    cli,
    console,
    dev_line,
    dev_mail,
    drafts,
    errors,
    health,
    inbound_mail,
    line,
    metrics,
    open_data,
    public,
    public_consultations,
    public_stats,
    recognition_consent,
    security_headers,
)
from .config import Config
from .extensions import csrf, login_manager, mail


def create_app(test_config: dict | None = None) -> Flask:
    if not os.environ.get("SECRET_KEY"):
        load_dotenv()
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
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    _configure_logging()

    connect_database(app.config["DATABASE_URL"], prepare=app.config.get("DATABASE_PREPARE", True))
    app.extensions["redis"] = Redis.from_url(app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
    # The domain's collaborators, handed over once (models/ never reads Flask's config).
    services.configure(
        public_base_url=app.config["PUBLIC_BASE_URL"],
        reply_domain=app.config["REPLY_DOMAIN"],
        secret_key=app.config["SECRET_KEY"],
        redis=lambda: app.extensions.get("redis"),  # looked up per use: tests swap it to play an outage
        after_commit=enqueue_outbox,
    )
    errors.init_app(app)  # before the blueprints: their routes use the bounded `int` converter
    security_headers.init_app(app)
    _register_database_hooks(app)
    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    _register_blueprints(app)
    cli.register_commands(app)
    app.jinja_env.filters["taipei"] = format_taipei
    app.jinja_env.globals["rules"] = settings.periods()  # texts format periods from the rule values
    return app


def _configure_logging() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SQL parameters carry personal data (R4): never logged unless asked for explicitly.
    logging.getLogger("peewee").setLevel("DEBUG" if os.environ.get("LOG_SQL") == "1" else "WARNING")
    for name in ("rq.worker", "rq.scheduler"):  # rq logs through its own handler: print each line once
        if logging.getLogger(name).handlers:
            logging.getLogger(name).propagate = False


def _register_database_hooks(app: Flask) -> None:
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


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(line.bp)
    app.register_blueprint(inbound_mail.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    csrf.exempt(line.bp)  # signed by LINE
    csrf.exempt(inbound_mail.bp)  # signed by the mail gateway
    app.register_blueprint(public.bp)
    app.register_blueprint(public_consultations.bp)
    app.register_blueprint(open_data.bp)
    app.register_blueprint(public_stats.bp)
    app.register_blueprint(console.bp)
    console.init_app(app)
    app.register_blueprint(drafts.bp)
    app.register_blueprint(agency_links.bp)
    app.register_blueprint(agency_respond.bp)
    app.register_blueprint(recognition_consent.bp)
    if app.config.get("LINE_SIMULATOR"):
        if not app.config.get("PRODUCTION"):  # the mailbox of the development SMTP sink only
            app.register_blueprint(dev_mail.bp)
        app.register_blueprint(dev_line.dev_line_bp)
        csrf.exempt(dev_line.dev_line_bp)
