"""Open data of proposals and consultations, read in bounded memory (INTERFACES.md; issue 12 item 6,
issue 13 item 3). The public dashboard (models.public_stats) aggregates these same records.

- Every published proposal keeps its row. A removed one (R7) keeps its state, dates, agencies,
  counts and the clause it was removed under, but none of its text: no title, content, benefits,
  evidence, proposer, responses, meeting summaries or extension reason.
- Each lead's own decision and reasons (R9.4.3) come from `responses_by_proposal`, the one reader of
  published responses here: a proposal with several leads carries one entry per lead.
- No personal data: a proposer appears only under the display name they chose (R3.0); meeting
  participants and places, the staff who acted, and opinions' authors are never exported.
- Rows are read in chunks by primary key (keyset pagination), so an export of 100,000 proposals
  holds one chunk at a time; `version` gives the ETag and Last-Modified of the whole data set from
  indexed maxima, so a client that already has the newest copy is answered without reading it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import peewee

from . import consultations as consultation_domain
from . import settings
from .agencies import Agency
from .agency_assignments import responsible_by_proposal
from .agency_confirmation import CO, LEAD, AgencyAssignment
from .base import among, db, format_taipei, taipei_date, utcnow
from .consultations import Consultation, Opinion
from .events import AuditEvent
from .officials import Official
from .proposals import PUBLISHED_STATES, REMOVED, STATE_LABELS, Proposal, removal_ground_label
from .responses import DECISIONS, AgencyResponse, Extension, Meeting, ResponseMerge, lead_rows
from .seconds import Second

CHUNK = 500  # proposals per query while exporting

# name, zh-TW meaning: one table documents the JSON keys and the CSV columns (the /open-data page).
PROPOSAL_FIELDS: list[tuple[str, str]] = [
    ("id", "提案編號（數字）"),
    ("title", "主題（已移除者為空）"),
    ("scope", "適用範圍代碼（第六點）"),
    ("state", "狀態代碼：seconding 附議中、established 已成案、lapsed 未成案、responded 已回應、removed 已移除"),
    ("state_label", "狀態中文名稱"),
    ("proposer", "提案人自選公開之顯示名稱（第三點；不含其他個人資料）"),
    ("lead_agencies", "主辦機關名稱（JSON 為陣列；CSV 以分號分隔）"),
    ("co_agencies", "協辦機關名稱（JSON 為陣列；CSV 以分號分隔）"),
    ("content", "內容或建議事項"),
    ("benefits", "利益與影響"),
    ("evidence", "佐證資料"),
    ("submitted_at", "提案時間（ISO 8601，+08:00）"),
    ("seconding_start", "開始附議時間"),
    ("seconding_end", "附議截止日（第九點（三）2）"),
    ("established_at", "成案時間（達附議門檻）"),
    ("notice_at", "通知權責機關時間（第九點（三）3）"),
    ("response_due", "回應期限（第九點（四）4）"),
    ("response_extended_due", "延長後回應期限"),
    ("extension_reason", "延長回應期限之理由"),
    ("responded_at", "回應時間"),
    ("valid_seconds", "有效附議數"),
    ("seconds_needed", "成案所需附議數"),
    ("response_decision", "回應結果代碼：adopt 同意參採、partial 部分參採、reject 不予採納"),
    ("lead_responses", "各主辦機關之回應狀態（第九點（四）3）：機關、結果代碼（未回應為空）、回應時間、是否逾期未回應（CSV 為 JSON 文字）"),
    ("responses", "各主辦機關之回應：機關、結果、理由、具體辦理方式、發布時間、併案之主提案（CSV 為 JSON 文字）"),
    ("meetings", "研商會議：日期與會議紀要摘要（第九點（四）2；CSV 為 JSON 文字）"),
    ("merged_into", "併案研議之主提案編號（第九點（四）1）"),
    ("removal_ground", "移除事由條款代碼（第七點，例如 R7.1）"),
    ("removal_ground_label", "移除事由條款文字"),
]
PROPOSAL_COLUMNS = [name for name, _ in PROPOSAL_FIELDS]
TEXT_FIELDS = ("title", "proposer", "content", "benefits", "evidence", "extension_reason", "response_decision")

CONSULTATION_FIELDS: list[tuple[str, str]] = [
    ("id", "諮詢編號"), ("title", "主題"), ("agency_code", "機關代碼"), ("agency", "機關名稱"),
    ("scope", "適用範圍代碼"), ("basis", "諮詢依據（第十點（一）1 至 3）"), ("stage", "政策階段"),
    ("state", "狀態代碼"), ("opens_at", "開始徵詢時間"), ("closes_on", "徵詢截止日"), ("closed_at", "結束時間"),
    ("closed_early_reason", "提前結束之理由"), ("summary_due", "綜整回應期限（第十點（二））"),
    ("summary_extended_due", "延長後綜整回應期限"), ("extension_reason", "延長之理由"),
    ("summary_published_at", "綜整回應發布時間"), ("opinion_count", "意見數"), ("url", "網址"),
]
CONSULTATION_COLUMNS = [name for name, _ in CONSULTATION_FIELDS]


def iso(value: dt.datetime | None) -> str | None:
    return format_taipei(value, "%Y-%m-%dT%H:%M:%S+08:00") or None


def day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def agency_names() -> dict[str, str]:
    return {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}


# --- the one reader of published responses -----------------------------------------------------------

def responses_by_proposal(proposal_ids: list[int]) -> dict[int, list[AgencyResponse]]:
    """{proposal id: its published responses, oldest first}: one per lead that has answered (R9.4.3)."""
    found: dict[int, list[AgencyResponse]] = {pid: [] for pid in proposal_ids}
    if proposal_ids:
        for row in (AgencyResponse.select().where(among(AgencyResponse.proposal, proposal_ids))
                    .order_by(AgencyResponse.published_at, AgencyResponse.id)):
            found[row.proposal_id].append(row)
    return found


def _by_proposal(model, proposal_ids: list[int], order) -> dict[int, list]:
    found: dict[int, list] = {pid: [] for pid in proposal_ids}
    for row in model.select().where(among(model.proposal, proposal_ids)).order_by(*order):
        found[row.proposal_id].append(row)
    return found


def _response_entry(row: AgencyResponse, names: dict[str, str]) -> dict:
    return {"agency_code": row.agency_code or None, "agency": names.get(row.agency_code, row.agency_code) or None,
            "decision": row.decision, "decision_label": DECISIONS.get(row.decision, row.decision),
            "reasons": row.reasons, "plan": row.plan, "published_at": iso(row.published_at),
            "merged_with": row.main_proposal_id}


def _lead_status(proposal: Proposal, leads: list[str], responses: list[AgencyResponse],
                 names: dict[str, str]) -> list[dict]:
    """Per lead (R9.4.3): its decision and date, or whether it is overdue after the deadline (R9.4.4)."""
    answered = {r.agency_code: r for r in responses if r.agency_code}
    return [{"agency": row["name"],
             "decision": row["response"].decision if row["response"] else None,
             "responded_at": iso(row["response"].published_at) if row["response"] else None,
             "overdue": row["overdue"]}
            for row in lead_rows(proposal, taipei_date(utcnow()), leads, answered, names)]


# --- proposals --------------------------------------------------------------------------------------------

def _published_chunks(chunk: int, with_text: bool) -> Iterator[list[Proposal]]:
    """Published proposals in id order, `chunk` at a time (keyset pagination: no OFFSET, no cursor held)."""
    columns = [Proposal] if with_text else [getattr(Proposal, f) for f in (
        "id", "state", "scope", "agency_code", "response_decision", "first_submitted_at", "submitted_at",
        "seconding_started_at", "seconding_ends", "established_at", "notified_at", "response_due",
        "response_extended_due", "responded_at", "second_count", "removal_ground", "proposer")]
    last = 0
    while True:
        query = (Proposal.select(*columns, Official.id, Official.display_choice, Official.real_name, Official.nickname)
                 .join(Official).where(Proposal.state.in_(sorted(PUBLISHED_STATES)) & (Proposal.id > last))
                 .order_by(Proposal.id).limit(chunk))
        rows = list(query.iterator())
        if not rows:
            return
        yield rows
        last = rows[-1].id


def proposal_record(proposal: Proposal, names: dict[str, str], roles: dict[str, list[str]],
                    responses: list[AgencyResponse], meetings: list[Meeting], extension: Extension | None,
                    merged_into: int | None) -> dict:
    """One proposal as open data (see PROPOSAL_FIELDS)."""
    record = {
        "id": proposal.id, "title": proposal.title, "scope": proposal.scope, "state": proposal.state,
        "state_label": STATE_LABELS.get(proposal.state, proposal.state), "proposer": proposal.proposer.display_name,
        "lead_agencies": [names.get(c, c) for c in roles[LEAD]], "co_agencies": [names.get(c, c) for c in roles[CO]],
        "content": proposal.content, "benefits": proposal.benefits, "evidence": proposal.evidence,
        "submitted_at": iso(proposal.first_submitted_at or proposal.submitted_at),
        "seconding_start": iso(proposal.seconding_started_at), "seconding_end": day(proposal.seconding_ends),
        "established_at": iso(proposal.established_at), "notice_at": iso(proposal.notified_at),
        "response_due": day(proposal.response_due), "response_extended_due": day(proposal.response_extended_due),
        "extension_reason": extension.reason if extension else None, "responded_at": iso(proposal.responded_at),
        "valid_seconds": proposal.second_count, "seconds_needed": settings.SECONDING_THRESHOLD,
        "response_decision": proposal.response_decision,
        "lead_responses": _lead_status(proposal, roles[LEAD], responses, names),
        "responses": [_response_entry(r, names) for r in responses],
        "meetings": [{"held_on": day(m.held_on), "summary": m.summary} for m in meetings],
        "merged_into": merged_into, "removal_ground": None, "removal_ground_label": None,
    }
    if proposal.state == REMOVED:
        record.update({name: None for name in TEXT_FIELDS}, responses=[], meetings=[], lead_responses=[],
                      removal_ground=proposal.removal_ground,
                      removal_ground_label=removal_ground_label(proposal.removal_ground))
    return record


def proposal_records(chunk: int | None = None, *, with_text: bool = True) -> Iterator[dict]:
    """Every published proposal as open data, in id order, five queries per chunk whatever the total.

    with_text=False leaves out the long texts (title, content, benefits, evidence) for the dashboard."""
    names = agency_names()
    for rows in _published_chunks(chunk or CHUNK, with_text):
        ids = [p.id for p in rows]
        roles = responsible_by_proposal(rows)  # never a released agency by fallback (R9.2.5)
        responses = responses_by_proposal(ids)
        meetings = _by_proposal(Meeting, ids, (Meeting.held_on, Meeting.id))
        extensions = {e.proposal_id: e for e in Extension.select().where(among(Extension.proposal, ids))}
        merges = {m.proposal_id: m.into_proposal_id
                  for m in ResponseMerge.select(ResponseMerge.proposal, ResponseMerge.into_proposal)
                  .where(among(ResponseMerge.proposal, ids))}
        for p in rows:
            yield proposal_record(p, names, roles[p.id], responses[p.id], meetings[p.id], extensions.get(p.id),
                                  merges.get(p.id))


# --- consultations ------------------------------------------------------------------------------------------

def consultation_record(consultation: Consultation, count: int, base_url: str, names: dict[str, str]) -> dict:
    """One consultation as open data: dates of each step, the published reasons, the opinion count (R10.2)."""
    return {
        "id": consultation.id, "title": consultation.title, "agency_code": consultation.agency_code,
        "agency": names.get(consultation.agency_code, consultation.agency_code), "scope": consultation.scope,
        "basis": consultation.basis, "stage": consultation.stage, "state": consultation.state,
        "opens_at": iso(consultation.opens_at), "closes_on": day(consultation.closes_on),
        "closed_at": iso(consultation.closed_at), "closed_early_reason": consultation.closed_early_reason,
        "summary_due": day(consultation.summary_due), "summary_extended_due": day(consultation.summary_extended_due),
        "extension_reason": consultation.extension_reason,
        "summary_published_at": iso(consultation.summary_published_at), "opinion_count": count,
        "url": consultation_domain.consultation_link(consultation, base_url),
    }


def consultation_records(base_url: str, chunk: int | None = None) -> Iterator[dict]:
    """Every published consultation, in id order, chunk by chunk."""
    names = agency_names()
    last = 0
    while True:
        rows = list(consultation_domain.published().where(Consultation.id > last).order_by(Consultation.id)
                    .limit(chunk or CHUNK).iterator())
        if not rows:
            return
        counts = consultation_domain.opinion_counts([c.id for c in rows])
        for c in rows:
            yield consultation_record(c, counts.get(c.id, 0), base_url, names)
        last = rows[-1].id


# --- versions for conditional requests ---------------------------------------------------------------------

def _newest(*queries) -> tuple[list, dt.datetime | None]:
    """Each query's single value, read in one round trip; and the newest timestamp among them."""
    parts = [q.sql() for q in queries]
    sql = "SELECT " + ", ".join(f"({text})" for text, _ in parts)
    values = list(db.execute_sql(sql, [p for _, params in parts for p in params]).fetchone())
    stamps = []
    for value in values:
        if isinstance(value, str):  # SQLite returns timestamps of subqueries as text
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                continue
        if isinstance(value, dt.datetime):
            stamps.append(value.replace(tzinfo=None))
    return values, max(stamps) if stamps else None


def version(kind: str = "proposals") -> tuple[str, dt.datetime | None]:
    """(ETag, Last-Modified as naive UTC) of a data set, from maxima that indexes answer.

    Every change that reaches open data bumps one of them: a state change or field edit (updated_at,
    indexed), each second (its id), each published response, meeting, extension, merge or agency
    assignment (their ids), a meeting summary, and every audited action (agency renames, calendar
    recomputes). kind "stats" leaves out the seconds, which the dashboard does not count."""
    fn = peewee.fn
    common = [AuditEvent.select(fn.MAX(AuditEvent.id)), AuditEvent.select(fn.MAX(AuditEvent.created_at)),
              Agency.select(fn.COUNT(Agency.code))]
    if kind == "consultations":
        queries = [Consultation.select(fn.MAX(Consultation.updated_at)), Consultation.select(fn.MAX(Consultation.id)),
                   Opinion.select(fn.MAX(Opinion.id))]  # each opinion changes a count
    else:
        queries = [Proposal.select(fn.MAX(Proposal.updated_at)), AgencyResponse.select(fn.MAX(AgencyResponse.id)),
                   Meeting.select(fn.MAX(Meeting.id)), Meeting.select(fn.MAX(Meeting.summarised_at)),
                   Extension.select(fn.MAX(Extension.id)), ResponseMerge.select(fn.MAX(ResponseMerge.id)),
                   AgencyAssignment.select(fn.MAX(AgencyAssignment.id)),
                   AgencyAssignment.select(fn.MAX(AgencyAssignment.answered_at))]
        if kind != "stats":
            queries += [Second.select(fn.MAX(Second.id)),
                        Second.select(Second.created_at).order_by(Second.id.desc()).limit(1)]
    values, newest = _newest(*queries, *common)
    digest = hashlib.sha256(repr((kind, settings.SECONDING_THRESHOLD, values)).encode()).hexdigest()[:32]
    return digest, newest
