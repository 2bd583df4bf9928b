"""Public pages (INTERFACES.md): state, progress, agencies, dates. No personal data. The open data
files are in webapp.open_data.

A proposer appears only under the display name they chose (R3.0); removed proposals show only that
they were removed and the ground (R7).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from models import public_list, settings, terms
from models.agency_assignments import CO, LEAD, responsible_by_proposal, responsible_roles
from models.base import taipei_date, utcnow
from models.officials import Official
from models.open_data import agency_names
from models.proposals import (
    PUBLISHED_STATES,
    REMOVAL_GROUNDS,
    REMOVED,
    SCOPES,
    SECONDING,
    STATE_LABELS,
    Proposal,
    removal_ground_label,
)
from models.responses import lead_rows

bp = Blueprint("public", __name__)


def agencies_of(proposal: Proposal, names: dict[str, str] | None = None,
                roles: dict[str, list[str]] | None = None) -> tuple[list[str], list[str]]:
    """(lead names, co-organiser names) of the agencies holding the proposal (R9.2.5); none while the
    team coordinates after a release (never the released agency)."""
    names = names if names is not None else agency_names()
    roles = roles if roles is not None else responsible_roles(proposal)
    return [names.get(c, c) for c in roles[LEAD]], [names.get(c, c) for c in roles[CO]]


def days_left(proposal: Proposal) -> int | None:
    if proposal.state != SECONDING or not proposal.seconding_ends:
        return None
    return max(0, (proposal.seconding_ends - taipei_date(utcnow())).days)


def published():
    return Proposal.select().where(Proposal.state.in_(PUBLISHED_STATES))


@bp.get("/")
def index():
    state = request.args.get("state", "")
    state = state if state in PUBLISHED_STATES else ""
    query_text = (request.args.get("q") or "").strip()[:50]
    try:
        number = int(request.args.get("page", 1))
    except ValueError:
        number = 1
    max_age = current_app.config.get("PUBLIC_COUNT_CACHE_SECONDS", 0 if current_app.testing else 60)
    page = public_list.page_of(state, query_text, number, max_age=max_age)
    proposals = page.proposals
    names, roles = agency_names(), responsible_by_proposal(proposals)
    leads = {p.id: "、".join(agencies_of(p, names, roles[p.id])[0]) or "營運小組協調中" for p in proposals}
    return render_template("public/index.html", proposals=proposals, state=state, q=query_text, page=page, leads=leads,
                           labels=STATE_LABELS, states=[s for s in STATE_LABELS if s in PUBLISHED_STATES],
                           threshold=settings.SECONDING_THRESHOLD, days_left=days_left, REMOVED=REMOVED)


@bp.get("/proposals/<int:proposal_id>")
def proposal_page(proposal_id: int):
    proposal = (published().select_extend(Official.id, Official.display_choice, Official.real_name, Official.nickname)
                .join(Official).where(Proposal.id == proposal_id).first())  # the proposer's shown name (R3.0) in one read
    if proposal is None:
        abort(404)
    roles = responsible_roles(proposal)  # read once for the names and the responses
    leads, cos = agencies_of(proposal, roles=roles)
    return render_template("public/proposal.html", p=proposal, leads=leads, cos=cos, scopes=SCOPES,
                           lead_rows=lead_rows(proposal, taipei_date(utcnow()), leads=roles[LEAD]),
                           grounds=REMOVAL_GROUNDS, threshold=settings.SECONDING_THRESHOLD,
                           days_left=days_left(proposal), REMOVED=REMOVED, removal_label=removal_ground_label)


@bp.get("/terms")
def terms_page():
    """R4: the terms of use and the privacy notice every official accepts (the chat links here)."""
    return render_template("public/terms.html", sections=terms.sections(), version=settings.TERMS_VERSION)


def csv_safe(value):
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
