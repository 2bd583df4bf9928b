"""The console home: what is due for this staff member's role, with counts and links (issue 11 item 5)."""
from __future__ import annotations

from flask import render_template

from models import calendar_years
from models.agencies import Agency
from models.base import taipei_date, utcnow
from models.worklist import due_counts, responses_by_agency

from .auth import agency_scope, current_staff, staff_required
from .blueprint import bp

# key -> (what it means, where to act); counts come from models.worklist.
DUE_TEXT = {
    "reviews_overdue": ("提案逾期未檢核", "console.review_queue"),
    "reviews_today": ("提案今日應完成檢核", "console.review_queue"),
    "not_asked": ("已通過檢核、尚未請機關確認權責", "console.review_queue"),
    "notices_due": ("成案通知應寄出而未寄出", "console.responses"),
    "confirmations_overdue": ("機關確認已逾期（將視為確認）", "console.agency_confirmations"),
    "confirmations_waiting": ("機關確認等待回覆", "console.agency_confirmations"),
    "confirmations_disputed": ("機關對權責有疑義，待協調", "console.agency_confirmations"),
    "responses_overdue": ("機關回應已逾期", "console.responses"),
    "responses_soon": ("機關回應 7 日內到期", "console.responses"),
    "consultation_reviews_overdue": ("政策諮詢逾期未審核", "console.consultations"),
    "consultation_reviews_waiting": ("政策諮詢待審核", "console.consultations"),
    "summaries_overdue": ("政策諮詢彙整回應已逾期", "console.consultations"),
    "summaries_waiting": ("政策諮詢已截止、待彙整回應", "console.consultations"),
    "notices_failed": ("通知寄送失敗（已重試 48 小時）", "console.operations_page"),
    "agencies_unconfirmed": ("個機關的聯絡信箱尚未確認（請寄送測試信）", "console.agencies"),
}


@bp.get("/")
@staff_required
def home():
    staff = current_staff()
    today = taipei_date(utcnow())
    code = agency_scope(staff)
    items = [(item, *DUE_TEXT[item.key]) for item in due_counts(code, today)]
    by_agency, names = [], {}
    if code is None:
        by_agency = responses_by_agency(today)
        names = {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}
    agency = Agency.get_or_none(Agency.code == code) if code else None
    unconfirmed = calendar_years.years_to_confirm() if staff.is_ops else []  # R2.3: the DGPA calendar
    return render_template("console/home.html", items=items, by_agency=by_agency, names=names, today=today,
                           agency=agency, nothing_due=not any(item.count for item, _, _ in items),
                           unconfirmed_years=unconfirmed)
