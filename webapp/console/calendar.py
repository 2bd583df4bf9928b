"""Working-day overrides from the console (R2.3): typhoon closures and extra make-up days.

Every change recomputes the open clocks at once (models.deadlines.RECOMPUTATIONS).
"""
from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from wtforms import DateField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from models import calendar, calendar_years, deadlines
from models.base import DomainError

from ..form import Form
from .auth import current_staff, ops_required, staff_required
from .blueprint import bp


class OverrideForm(Form):
    day = DateField("日期", validators=[DataRequired("請選擇日期。")])
    kind = SelectField("類別", choices=[(calendar.KIND_CLOSED, "停止上班（颱風等）"),
                                         (calendar.KIND_WORKDAY, "補行上班")])
    reason = StringField("事由", validators=[DataRequired("請填寫事由。"), Length(max=calendar.REASON_MAX)])
    submit = SubmitField("新增並重算所有期限")


class ClearForm(Form):
    submit = SubmitField("移除")


class ConfirmYearForm(Form):
    submit = SubmitField("確認本年辦公日曆並重算期限")


def _year() -> int:
    try:
        return max(2000, min(int(request.args.get("year", calendar.today_taipei().year)), 2100))
    except ValueError:
        return calendar.today_taipei().year


@bp.get("/calendar")
@staff_required
def calendar_page():
    """The year's overrides, make-up days and public holidays; ops may change overrides."""
    year = _year()
    return render_template("console/calendar.html", year=year, overrides=calendar.list_overrides(year),
                           holidays=calendar.public_holidays(year), makeups=calendar.makeup_workdays(year),
                           form=OverrideForm(), clear_form=ClearForm(), kinds=calendar.KINDS, title="行事曆",
                           can_edit=current_staff().is_ops, year_confirmed=calendar_years.is_confirmed(year),
                           confirm_form=ConfirmYearForm())


@bp.post("/calendar/years/<int:year>/confirm")
@ops_required
def calendar_confirm_year(year: int):
    """R2.3: the team confirms a year's DGPA office calendar is entered; every open clock is recomputed."""
    if ConfirmYearForm().validate_on_submit():
        try:
            calendar_years.confirm_year(year, by=current_staff().actor)
            flash(f"已確認 {year} 年辦公日曆，所有未到期的期限已重新計算。", "success")
        except DomainError as error:
            flash(error.message, "error")
    return redirect(url_for("console.calendar_page", year=year))


@bp.post("/calendar")
@ops_required
def calendar_add():
    form = OverrideForm()
    if form.validate_on_submit():
        try:
            deadlines.add_override(form.day.data, form.kind.data, form.reason.data, by=current_staff().actor)
            flash(f"已設定 {form.day.data:%Y-%m-%d} 為「{calendar.KINDS[form.kind.data]}」，所有未到期的期限已重新計算。",
                  "success")
        except DomainError as error:
            flash(error.message, "error")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
    return redirect(url_for("console.calendar_page", year=(form.day.data or calendar.today_taipei()).year))


@bp.post("/calendar/<day>/clear")
@ops_required
def calendar_clear(day: str):
    form = ClearForm()
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError:
        flash("日期格式不正確。", "error")
        return redirect(url_for("console.calendar_page"))
    if form.validate_on_submit():
        if deadlines.clear_override(parsed, by=current_staff().actor):
            flash(f"已移除 {parsed:%Y-%m-%d} 的設定，所有未到期的期限已重新計算。", "success")
        else:
            flash("這一天沒有設定。", "warning")
    return redirect(url_for("console.calendar_page", year=parsed.year))
