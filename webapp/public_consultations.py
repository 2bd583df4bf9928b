"""Public pages and open data of policy consultations (R5.2, R10; INTERFACES.md). No personal data.

Opinions appear under the display name their author chose (R3.0); hidden ones only say that they
were hidden and on which R7 ground. The summary, the extension and its reason, and an early
closing and its reason are published (R10.2).
"""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from models import consultations as domain
from models.base import taipei_date, utcnow
from models.consultations import Consultation
from models.opinions import opinions_of
from models.proposals import REMOVAL_GROUNDS

bp = Blueprint("public_consultations", __name__)
PAGE_SIZE = 20
OPINIONS_PER_PAGE = 100
def _page_arg(name: str = "page") -> int:
    try:
        return max(1, min(int(request.args.get(name, 1)), 10_000))
    except ValueError:
        return 1


@bp.get("/consultations")
def index():
    """Every published consultation, open ones first, optionally of one state."""
    state = request.args.get("state", "")
    query = domain.published()
    if state in domain.PUBLISHED_STATES:
        query = query.where(Consultation.state == state)
    page = _page_arg()
    total = query.count()
    rows = list(query.order_by((Consultation.state != domain.OPEN), Consultation.opens_at.desc(), Consultation.id.desc())
                .paginate(page, PAGE_SIZE))
    now = utcnow()
    return render_template("public/consultations.html", consultations=rows, state=state, page=page,
                           pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE), total=total,
                           counts=domain.opinion_counts([c.id for c in rows]), labels=domain.STATE_LABELS,
                           states=[s for s in domain.STATE_LABELS if s in domain.PUBLISHED_STATES],
                           days_left=lambda c: domain.days_left(c, now), is_open=lambda c: domain.window_open(c, now))


@bp.get("/consultations/<int:consultation_id>")
def consultation_page(consultation_id: int):
    """State, agency, basis, dates, opinions under display names, the summary and the published reasons."""
    consultation = domain.published().where(Consultation.id == consultation_id).first()
    if consultation is None:
        abort(404)
    page = _page_arg()
    total = domain.Opinion.select().where(domain.Opinion.consultation == consultation.id).count()
    shown = opinions_of(consultation, page=page, per_page=OPINIONS_PER_PAGE)
    now = utcnow()
    return render_template("public/consultation.html", c=consultation, opinions=shown, page=page,
                           pages=max(1, (total + OPINIONS_PER_PAGE - 1) // OPINIONS_PER_PAGE),
                           count=domain.opinion_counts([consultation.id]).get(consultation.id, 0), grounds=REMOVAL_GROUNDS,
                           is_open=domain.window_open(consultation, now), days_left=domain.days_left(consultation, now),
                           overdue=domain.is_summary_overdue(consultation, taipei_date(now)))
