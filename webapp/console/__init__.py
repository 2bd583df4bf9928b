"""The staff console at /console (operations team R8, agency staff R2.2).

One blueprint (`blueprint.bp`); each area below adds its routes to it. To add an area, write
`webapp/console/<area>.py` (``from .blueprint import bp`` then ``@bp.get(...)``), import it here,
and give it an entry in `blueprint.NAV` if it belongs in the navigation.
"""
from __future__ import annotations

from flask import Flask

from webapp.extensions import login_manager

from . import (  # noqa: F401 - each area adds its routes to `bp`
    agencies,  # agencies, contact addresses, test emails (ops)
    agency_import,  # agency CSV export, import with a preview (ops)
    auth,  # login, logout, role decorators
    calendar,  # R2.3 working-day overrides
    confirmations,  # R9.2.5 agency confirmation
    consultation_discussion,  # R10.2 talking with those who gave opinions, discussion meetings
    consultation_review,  # R8 review of consultations before they open (R8.1 clock)
    consultations,  # R10 policy consultations
    home,  # the console home
    officials,  # officials list, personal data (R4), block/unblock
    operations,  # the status page: outbox, LINE events, queues, scheduler, sweeps
    passwords,  # set a password from an invitation, forgot/reset, change one's own
    recognition,  # R11 per-proposer annual figures
    responses,  # R9.4 agency responses to established proposals
    review,  # R9.2 review queue, R7 removal, R9.1.3 agency change
    similar_lexicon,  # R9.1.4 the similar-proposal lexicon: the team's words, the trial panel (ops)
    staff_accounts,  # staff accounts: invite, disable, re-enable, resend (ops)
    two_factor,  # TOTP sign-in step, enrolment, ops must enrol
)
from .auth import load_user
from .blueprint import MSG, bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Flask-Login for console staff, and session cookie settings (called by the factory)."""
    login_manager.user_loader(load_user)
    login_manager.login_view = "console.login"
    login_manager.login_message = MSG["login_required"]
    login_manager.login_message_category = "warning"
    # The session cookie carries the login: not readable by scripts, not sent cross-site, HTTPS
    # only when the site is served over HTTPS (Config decides SESSION_COOKIE_SECURE).
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE", False))
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("LOGIN_LIMIT_PER_EMAIL", 10)
    app.config.setdefault("LOGIN_LIMIT_PER_IP", 30)
    app.config.setdefault("LOGIN_LIMIT_WINDOW_SECONDS", 15 * 60)
    app.config.setdefault("LOGIN_LIMIT_KEY_PREFIX", "console:login")
