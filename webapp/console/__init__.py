"""The staff console at /console (operations team R8, agency staff R2.2).

One blueprint, `bp`; each area is a module that adds its routes to it. To add an area, write
`webapp/console/<area>.py` (``from . import bp`` then ``@bp.get(...)``), append its name to
`ROUTE_MODULES`, and give it an entry in `NAV` if it belongs in the navigation. A nav entry is
shown only when its endpoint exists and the staff member's role may use it, so the list can name
areas that are not written yet.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, render_template
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from models import calendar_years
from models.staff import ROLE_AGENCY, ROLE_OPS

bp = Blueprint("console", __name__, url_prefix="/console")

# The console's route modules, imported in this order. Add new areas here.
ROUTE_MODULES = [
    "auth",        # login, logout, role decorators
    "officials",   # officials list, personal data (R4), block/unblock
    "review",      # R9.2 review queue, R7 removal, R9.1.3 agency change
    "confirmations",  # R9.2.5 agency confirmation
    # "seconding", # R9.3 proposals collecting seconds
    "calendar",    # R2.3 working-day overrides
    "responses",   # R9.4 agency responses to established proposals
    "recognition",  # R11 per-proposer annual figures
    "consultations",  # R10 policy consultations
]


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...] = (ROLE_OPS, ROLE_AGENCY)


# The navigation, in display order. Endpoints not yet written are simply not shown.
NAV = [
    NavItem("審核佇列", "console.review_queue", (ROLE_OPS,)),
    NavItem("機關確認", "console.agency_confirmations"),
    NavItem("附議中", "console.seconding"),
    NavItem("機關回應", "console.responses"),
    NavItem("政策諮詢", "console.consultations"),
    NavItem("獎勵參考", "console.recognition", (ROLE_OPS,)),
    NavItem("行事曆", "console.calendar_page"),
    NavItem("公務人員", "console.officials", (ROLE_OPS,)),
]

MSG = {
    "login_required": "請先登入工作臺。",
    "forbidden": "您的帳號沒有使用這個頁面的權限。",
    "not_found": "找不到這個頁面或資料。",
    "csrf": "表單已失效（可能停留太久或在其他分頁登出），請重新整理頁面後再送出。",
}


def endpoint_exists(endpoint: str) -> bool:
    """Whether the app has a view for this endpoint (so templates never link to a missing page)."""
    return endpoint in current_app.view_functions


def nav_items() -> list[NavItem]:
    """The navigation entries the current staff member may use and that exist."""
    if not current_user.is_authenticated:
        return []
    return [item for item in NAV if current_user.role in item.roles and endpoint_exists(item.endpoint)]


@bp.context_processor
def _console_template_helpers() -> dict:
    return {"nav_items": nav_items, "endpoint_exists": endpoint_exists}


@bp.after_request
def _console_headers(response):
    # Console pages may carry personal data (R4): never cached, never framed, no outside resources.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    return response


def _error_page(message: str, status: int):
    return render_template("console/base.html", error_message=message, title="無法完成"), status


@bp.errorhandler(CSRFError)
def _csrf_error(error):
    return _error_page(MSG["csrf"], 400)


@bp.errorhandler(403)
def _forbidden(error):
    return _error_page(MSG["forbidden"], 403)


@bp.errorhandler(404)
def _not_found(error):
    return _error_page(MSG["not_found"], 404)


def init_app(app: Flask) -> None:
    """Flask-Login for console staff, and session cookie settings (called by the factory)."""
    from webapp.extensions import login_manager

    from .auth import load_user

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


for _name in ROUTE_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # an area not written yet
        if _exc.name != f"{__name__}.{_name}":
            raise

from .auth import current_staff, staff_required  # noqa: E402 - after the route modules, which import `bp` from here


@bp.get("/")
@staff_required
def home():
    """The dashboard: who is logged in and where they can go; for the team, office calendars to confirm (R2.3)."""
    unconfirmed = calendar_years.years_to_confirm() if current_staff().is_ops else []
    return render_template("console/home.html", unconfirmed_years=unconfirmed)
