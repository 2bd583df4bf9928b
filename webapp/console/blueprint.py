"""The console's blueprint, its navigation, headers and error pages.

Each area module adds its routes to `bp` (``from .blueprint import bp``); `webapp/console/__init__.py`
imports every area. A nav entry is shown only when the staff member's role may use it.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from models.staff import ROLE_AGENCY, ROLE_OPS

bp = Blueprint("console", __name__, url_prefix="/console")

@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...] = (ROLE_OPS, ROLE_AGENCY)


# The navigation, in display order.
NAV = [
    NavItem("提案檢核", "console.review_queue", (ROLE_OPS,)),
    NavItem("機關確認", "console.agency_confirmations"),
    NavItem("機關回應", "console.responses"),
    NavItem("政策諮詢", "console.consultations"),
    NavItem("獎勵參考", "console.recognition", (ROLE_OPS,)),
    NavItem("行事曆", "console.calendar_page"),
    NavItem("公務人員", "console.officials", (ROLE_OPS,)),
    NavItem("系統狀態", "console.operations_page", (ROLE_OPS,)),
    NavItem("相似提案詞庫", "console.similar_lexicon", (ROLE_OPS,)),
    NavItem("機關", "console.agencies", (ROLE_OPS,)),
    NavItem("工作臺帳號", "console.staff_accounts", (ROLE_OPS,)),
]

MSG = {
    "login_required": "請先登入工作臺。",
    "forbidden": "您的帳號沒有使用這個頁面的權限。",
    "not_found": "找不到這個頁面或資料。",
    "csrf": "表單已失效（可能停留太久或在其他分頁登出），請重新整理頁面後再送出。",
}


def nav_items() -> list[NavItem]:
    """The navigation entries the current staff member may use."""
    if not current_user.is_authenticated:
        return []
    return [item for item in NAV if current_user.role in item.roles]


@bp.context_processor
def _console_template_helpers() -> dict:
    return {"nav_items": nav_items}


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
