"""Recognition in the console (R11), operations team only.

`/console/recognition?year=YYYY` shows, per proposer, the year's proposals submitted (withdrawn and
returned ones apart), passed review, established and adopted (wholly or partly), whether the proposer
agreed to be recommended, and the recommendation sent; `/console/recognition.csv` downloads the same
table. Only display names appear there (R3.0, R4). `/console/recognition/<official>?year=YYYY` is one
proposer's year: the team recommends them to their own agency (專案敘獎, 公開表揚, 經驗分享, with the
contribution in its words; refused without the proposer's consent) and records the agency's answer.
"""
from __future__ import annotations

import csv
import io

import peewee
from flask import Response, abort, redirect, render_template, request, url_for
from wtforms import DateField, RadioField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from models import recommendations
from models.calendar import today_taipei
from models.officials import Official
from models.recognition import CONSENT_LABELS, RecognitionConsent, workplace_of
from models.recognition_figures import annual_figures, figures_of
from webapp.public import csv_safe

from ..form import Form
from .actions import act
from .auth import current_staff, ops_required
from .blueprint import bp

FIRST_YEAR = 2018  # the regulation (作業規範) dates from 2018-07-12
CSV_COLUMNS = [
    ("display_name", "顯示名稱"), ("agency", "服務機關"), ("submitted", "提案數"), ("withdrawn", "撤回"),
    ("returned", "退回未再送出"), ("passed_review", "通過檢核"),
    ("established", "成案"), ("adopted", "同意參採"), ("partly_adopted", "部分參採"), ("consent", "是否同意推薦獎勵"),
    ("adopted_proposals", "參採提案編號"), ("eligible", "可簽報獎勵"), ("recommended", "已建請所屬機關"),
]


class RecommendForm(Form):
    kinds = SelectMultipleField("建請辦理（可複選，第十一點）", choices=list(recommendations.KINDS.items()),
                                option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
                                validators=[DataRequired("請至少選擇一項。")],
                                validate_choice=False)  # the domain refuses an unknown kind, in zh-TW
    reason = TextAreaField("貢獻說明（將寄給所屬機關）",
                           validators=[DataRequired("此欄位必填。"), Length(min=recommendations.REASON_MIN,
                                                                        max=recommendations.REASON_MAX)],
                           render_kw={"rows": 4, "maxlength": recommendations.REASON_MAX})
    submit = SubmitField("寄送建議給所屬機關")


class AnswerForm(Form):
    answer = RadioField("機關回覆", choices=list(recommendations.ANSWERS.items()), validators=[DataRequired("請選擇。")])
    answered_on = DateField("回覆日期", validators=[DataRequired("請選擇日期。")])
    note = TextAreaField("說明", validators=[Optional(), Length(max=recommendations.NOTE_MAX)],
                         render_kw={"rows": 2, "maxlength": recommendations.NOTE_MAX})
    submit = SubmitField("記錄機關回覆")


def _year() -> int:
    this_year = today_taipei().year
    try:
        year = int(request.args.get("year", this_year))
    except ValueError:
        return this_year
    return year if FIRST_YEAR <= year <= this_year + 1 else this_year


@bp.get("/recognition")
@ops_required
def recognition():
    """R11: the year's per-proposer figures, for the operations team to decide awards."""
    year = _year()
    return render_template("console/recognition.html", year=year, rows=annual_figures(year),
                           sent=recommendations.recommended_in(year),
                           years=list(range(today_taipei().year, FIRST_YEAR - 1, -1)), title=f"獎勵參考（{year} 年）")


@bp.get("/recognition.csv")
@ops_required
def recognition_csv():
    """The same table as CSV (UTF-8 with BOM, for spreadsheets)."""
    year = _year()
    sent = recommendations.recommended_in(year)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in annual_figures(year):
        values = {
            "display_name": row.display_name, "agency": row.agency, "submitted": row.submitted,
            "withdrawn": row.withdrawn, "returned": row.returned,
            "passed_review": row.passed_review, "established": row.established, "adopted": row.adopted,
            "partly_adopted": row.partly_adopted, "consent": row.consent_label,
            "adopted_proposals": ";".join(str(i) for i in row.adopted_proposals), "eligible": "是" if row.eligible else "",
            "recommended": sent[row.official_id].kind_labels if row.official_id in sent else "",
        }
        writer.writerow([csv_safe(values[key]) for key, _ in CSV_COLUMNS])
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=recognition-{year}.csv"})


def _official_or_404(official_id: int) -> Official:
    try:
        return Official.get_by_id(official_id)
    except peewee.DoesNotExist:
        abort(404)


def _detail(official: Official, year: int, status: int = 200, **forms):
    figures = figures_of(official.id, year)
    adopted = figures.adopted_proposals if figures else []
    consents = {r.proposal_id: r for r in RecognitionConsent.select().where(
        RecognitionConsent.proposal.in_(adopted) & (RecognitionConsent.official == official.id))} if adopted else {}
    rows = recommendations.recommendations_of(official.id)
    answer_forms = {r.id: AnswerForm(prefix=f"answer{r.id}", formdata=None) for r in rows if r.answer is None}
    if forms.get("answer_form") is not None:
        answer_forms[forms["answer_id"]] = forms["answer_form"]
    return render_template(
        "console/recognition_detail.html", official=official, year=year, figures=figures, consents=consents,
        consent_labels=CONSENT_LABELS, workplace=workplace_of(official), recommendations=rows,
        this_year=next((r for r in rows if r.year == year), None), answer_forms=answer_forms,
        recommend_form=forms.get("recommend_form") or RecommendForm(prefix="recommend", formdata=None),
        title=f"{official.display_name}：{year} 年獎勵建議"), status


@bp.get("/recognition/<int:official_id>")
@ops_required
def recognition_detail(official_id: int):
    """R11: one proposer's year, the recommendation to their own agency and its answer."""
    return _detail(_official_or_404(official_id), _year())


def _back(official: Official, year: int):
    return redirect(url_for("console.recognition_detail", official_id=official.id, year=year))


@bp.post("/recognition/<int:official_id>/recommend")
@ops_required
def recognition_recommend(official_id: int):
    """R11: email the recommendation to the proposer's own agency (refused without consent)."""
    official, year = _official_or_404(official_id), _year()
    form = RecommendForm(prefix="recommend")

    def action() -> str:
        row = recommendations.recommend(current_staff(), official.id, year, form.kinds.data, form.reason.data)
        return f"已將 {year} 年的建議（{row.kind_labels}）寄給{row.agency_name}，並通知提案人。"

    return act(form, action, on_invalid=lambda: _detail(official, year, 400, recommend_form=form),
               on_refused=lambda: _back(official, year), done=lambda: _back(official, year), explain_errors=True)


@bp.post("/recognition/answers/<int:recommendation_id>")
@ops_required
def recognition_answer(recommendation_id: int):
    """R11: record the agency's answer (done or declined, with its date)."""
    row = recommendations.Recommendation.get_or_none(recommendations.Recommendation.id == recommendation_id)
    if row is None:
        abort(404)
    official = row.official
    form = AnswerForm(prefix=f"answer{row.id}")

    def action() -> str:
        done = recommendations.record_answer(current_staff(), row.id, form.answer.data, form.answered_on.data,
                                             form.note.data or "")
        return f"已記錄{done.agency_name}的回覆：{done.answer_label}（{done.answered_on:%Y-%m-%d}）。"

    return act(form, action, on_invalid=lambda: _detail(official, row.year, 400, answer_form=form, answer_id=row.id),
               on_refused=lambda: _back(official, row.year), done=lambda: _back(official, row.year),
               explain_errors=True)
