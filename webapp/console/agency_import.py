"""Agency CSV export, and import with a preview in the console (ops only, issue 11 item 4).

Upload → preview (what changes, bad rows by line; nothing applied) → confirm with a reason →
the good rows are applied. The previewed file travels back in the confirm form with an HMAC of
its text, so what is applied is exactly what was previewed.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Response, current_app, flash, redirect, render_template, url_for
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from models.agency_csv import apply_import, export_csv, preview_import
from models.base import DomainError, taipei_date, utcnow
from models.staff import MAX_REASON, MIN_REASON

from ..form import Form
from .auth import current_staff, ops_required
from .blueprint import bp
from .forms import REASON_LENGTH, REQUIRED

MSG = {
    "applied": "已匯入：新增 {created} 個、更新 {updated} 個、未變更 {unchanged} 個機關；略過 {skipped} 列有誤的資料。",
    "tampered": "預覽後的檔案內容不一致，請重新上傳並預覽。",
    "nothing": "這個檔案沒有需要匯入的變更。",
}


class UploadForm(Form):
    file = FileField("CSV 檔（欄位：code, name, short_name, kind, contact_email, parent_code, active）",
                     validators=[FileRequired("請選擇 CSV 檔。")])
    submit = SubmitField("預覽匯入結果")


class ApplyForm(Form):
    csv_text = HiddenField(validators=[DataRequired(REQUIRED)])
    digest = HiddenField(validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("匯入事由", validators=[DataRequired(REQUIRED), Length(min=MIN_REASON, max=MAX_REASON,
                                                                              message=REASON_LENGTH)],
                           render_kw={"rows": 2})
    submit = SubmitField("確認匯入正確的資料列")


def _digest(text: str) -> str:
    return hmac.new(current_app.secret_key.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


@bp.get("/agencies.csv")
@ops_required
def agencies_csv():
    filename = f"agencies-{taipei_date(utcnow()):%Y%m%d}.csv"
    return Response(export_csv(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/agencies/import", methods=["GET", "POST"])
@ops_required
def agencies_import():
    form = UploadForm()
    if not form.validate_on_submit():
        return render_template("console/agency_import.html", form=form, title="匯入機關資料"), \
            400 if form.errors else 200
    data = form.file.data.read()
    preview = preview_import(data)
    apply_form = None
    if preview.applicable:
        text = data.decode("utf-8-sig")
        apply_form = ApplyForm(formdata=None, csv_text=text, digest=_digest(text))
    return render_template("console/agency_import.html", form=UploadForm(formdata=None), preview=preview,
                           apply_form=apply_form, title="匯入機關資料：預覽")


@bp.post("/agencies/import/apply")
@ops_required
def agencies_import_apply():
    form = ApplyForm()
    if not form.validate_on_submit():
        flash("；".join(m for name, ms in form.errors.items() if name != "csrf_token" for m in ms) or MSG["tampered"],
              "error")
        return redirect(url_for("console.agencies_import"))
    if not hmac.compare_digest(_digest(form.csv_text.data), form.digest.data):
        flash(MSG["tampered"], "error")
        return redirect(url_for("console.agencies_import"))
    try:
        result = apply_import(current_staff(), form.csv_text.data, form.reason.data, utcnow())
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("console.agencies_import"))
    flash(MSG["applied"].format(created=result.created, updated=result.updated, unchanged=result.unchanged,
                                skipped=len(result.errors)), "success")
    return redirect(url_for("console.agencies"))
