"""The console's side of consultation review (R8 議案審核, R8.1 its clock): the agency submits its
draft; the operations team passes it or returns it with reasons; only then can it open."""
from __future__ import annotations

from models import consultation_review as review
from models import settings

from .auth import current_staff, ops_required, staff_required
from .blueprint import bp
from .consultations import _act, _own_or_abort
from .forms import ConsultationPassForm, ConsultationReturnForm, ConsultationSubmitForm

MSG = {
    "submitted": "已送交營運小組審核，預計 {due} 前完成（{period}）。",
    "passed": "已審核通過；機關可選擇最後一天後開放徵詢。",
    "returned": "已退回修改，並以電子郵件通知機關。",
}


@bp.post("/consultations/<int:consultation_id>/submit")
@staff_required
def consultation_submit(consultation_id: int):
    """The agency sends its draft to the team (R8.1: reviewed within 3 working days)."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        submitted = review.submit_for_review(current_staff(), consultation.id, expected_version=form.expected_version)
        return MSG["submitted"].format(due=f"{submitted.review_due:%Y-%m-%d}", period=settings.period_text("R8.1"))

    return _act(consultation, ConsultationSubmitForm(prefix="submit"), "submit_form", action)


@bp.post("/consultations/<int:consultation_id>/pass")
@ops_required
def consultation_pass(consultation_id: int):
    """R8: basis, scope and length are in order; the agency may open it."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        review.pass_consultation_review(current_staff(), consultation.id, expected_version=form.expected_version)
        return MSG["passed"]

    return _act(consultation, ConsultationPassForm(prefix="pass"), "pass_form", action)


@bp.post("/consultations/<int:consultation_id>/return")
@ops_required
def consultation_return(consultation_id: int):
    """R8: returned to the agency with reasons (第七點, 第十點（一）)."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        review.return_consultation(current_staff(), consultation.id, form.reasons.data,
                                   expected_version=form.expected_version)
        return MSG["returned"]

    return _act(consultation, ConsultationReturnForm(prefix="return"), "return_form", action)
