"""Public pages and open data (INTERFACES.md): state, progress, agencies, dates. No personal data.

A proposer appears only under the display name they chose (R3.0); removed proposals show only that
they were removed and the ground (R7).
"""
from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Response, abort, render_template, request

from models import settings
from models.agencies import Agency
from models.agency_assignments import CO, LEAD, responsible_by_proposal, responsible_roles
from models.base import format_taipei, taipei_date, utcnow
from models.officials import Official
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
from models.responses import lead_rows, responses_by_lead

bp = Blueprint("public", __name__)
PAGE_SIZE = 20
OPEN_DATA_FIELDS = [
    "id", "title", "scope", "state", "proposer", "lead_agencies", "co_agencies", "submitted_at",
    "seconding_start", "seconding_end", "established_at", "notice_at", "response_due", "response_extended_due",
    "responded_at", "valid_seconds", "seconds_needed", "response_decision", "removal_ground",
    "lead_responses",
]


def agency_names() -> dict[str, str]:
    return {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}


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


def lead_responses(proposal: Proposal, roles: dict[str, list[str]] | None, answered: dict | None,
                   names: dict[str, str]) -> list[dict]:
    """Open data, per lead (R9.4.3): its decision and date, or whether it is overdue (R9.4.4)."""
    leads = (roles or {}).get(LEAD) or []
    return [{"agency": names.get(r["code"], r["name"]),
             "decision": r["response"].decision if r["response"] else None,
             "responded_at": format_taipei(r["response"].published_at, "%Y-%m-%dT%H:%M:%S+08:00") if r["response"] else None,
             "overdue": r["overdue"]}
            for r in lead_rows(proposal, taipei_date(utcnow()), leads, answered)]


def open_record(proposal: Proposal, names: dict[str, str] | None = None,
                roles: dict[str, list[str]] | None = None, answered: dict | None = None) -> dict:
    """One proposal as open data. Removed ones (R7) keep the record: dates, counts, agencies and the
    ground, without the content (title, proposer, response decision)."""
    leads, cos = agencies_of(proposal, names, roles)

    def iso(value):
        return format_taipei(value, "%Y-%m-%dT%H:%M:%S+08:00") or None

    record = {
        "id": proposal.id, "title": proposal.title, "scope": proposal.scope, "state": proposal.state,
        "proposer": proposal.proposer.display_name, "lead_agencies": leads, "co_agencies": cos,
        "submitted_at": iso(proposal.first_submitted_at or proposal.submitted_at),
        "seconding_start": iso(proposal.seconding_started_at),
        "seconding_end": proposal.seconding_ends.isoformat() if proposal.seconding_ends else None,
        "established_at": iso(proposal.established_at), "notice_at": iso(proposal.notified_at),
        "response_due": proposal.response_due.isoformat() if proposal.response_due else None,
        "response_extended_due": proposal.response_extended_due.isoformat() if proposal.response_extended_due else None,
        "responded_at": iso(proposal.responded_at), "valid_seconds": proposal.second_count,
        "seconds_needed": settings.SECONDING_THRESHOLD, "response_decision": proposal.response_decision,
        "removal_ground": None,
        "lead_responses": lead_responses(proposal, roles if roles is not None else responsible_roles(proposal),
                                         answered, names or agency_names()),
    }
    if proposal.state == REMOVED:
        record.update(title=None, proposer=None, response_decision=None, removal_ground=proposal.removal_ground,
                      lead_responses=None)
    return record


def published():
    return Proposal.select().where(Proposal.state.in_(PUBLISHED_STATES))


@bp.get("/")
def index():
    state = request.args.get("state", "")
    query_text = (request.args.get("q") or "").strip()[:50]
    query = published()
    if state in PUBLISHED_STATES:
        query = query.where(Proposal.state == state)
    if query_text:
        like = f"%{query_text.replace('台', '臺')}%"
        query = query.where((Proposal.title ** like) & (Proposal.state != REMOVED))
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    total = query.count()
    proposals = list(query.order_by(Proposal.seconding_started_at.desc(nulls="LAST"), Proposal.id.desc())
                     .paginate(page, PAGE_SIZE))
    names, roles = agency_names(), responsible_by_proposal(proposals)
    leads = {p.id: "、".join(agencies_of(p, names, roles[p.id])[0]) or "營運小組協調中" for p in proposals}
    return render_template("public/index.html", proposals=proposals, state=state, q=query_text, page=page, leads=leads,
                           pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE), total=total,
                           labels=STATE_LABELS, states=[s for s in STATE_LABELS if s in PUBLISHED_STATES],
                           threshold=settings.SECONDING_THRESHOLD, days_left=days_left, REMOVED=REMOVED)


@bp.get("/proposals/<int:proposal_id>")
def proposal_page(proposal_id: int):
    proposal = published().where(Proposal.id == proposal_id).first()
    if proposal is None:
        abort(404)
    leads, cos = agencies_of(proposal)
    return render_template("public/proposal.html", p=proposal, leads=leads, cos=cos, scopes=SCOPES,
                           lead_rows=lead_rows(proposal, taipei_date(utcnow())),
                           grounds=REMOVAL_GROUNDS, threshold=settings.SECONDING_THRESHOLD,
                           days_left=days_left(proposal), REMOVED=REMOVED, removal_label=removal_ground_label)


def open_records() -> list[dict]:
    """Every published proposal as open data, in three queries whatever their number."""
    proposals = list(published().select(Proposal, Official).join(Official).order_by(Proposal.id))
    names = agency_names()
    roles = responsible_by_proposal(proposals)
    answered = responses_by_lead([p.id for p in proposals])
    return [open_record(p, names, roles[p.id], answered[p.id]) for p in proposals]


@bp.get("/open-data/proposals.json")
def open_data_json():
    records = open_records()
    body = json.dumps({"proposals": records, "generated_at": format_taipei(utcnow(), "%Y-%m-%dT%H:%M:%S+08:00")},
                      ensure_ascii=False)
    return Response(body, mimetype="application/json")


@bp.get("/open-data/proposals.csv")
def open_data_csv():
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OPEN_DATA_FIELDS)
    writer.writeheader()
    for row in open_records():
        row["lead_agencies"] = ";".join(row["lead_agencies"] or [])
        row["co_agencies"] = ";".join(row["co_agencies"] or [])
        row["lead_responses"] = ";".join(f"{r['agency']}:{r['decision'] or ('overdue' if r['overdue'] else 'pending')}"
                                         for r in row["lead_responses"] or [])
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=proposals.csv"})


def csv_safe(value):
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
