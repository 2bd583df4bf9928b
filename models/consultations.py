"""Policy consultations (政策諮詢, R5.2, R6, R10): draft → open → closed → summarised.

An agency asks officials for opinions on a policy at its forming, execution or evaluation stage
(R5.2), on one of the grounds R10.1.1–R10.1.3, within one R6 scope. Rules this module keeps, and
the decisions taken where the regulation is silent:

- **Length** (R10.1.4): the agency chooses the last day; it is at most 2 months after the open
  day (R2.3 month counting: opened 2026-01-31 → 2026-03-31 at the latest) and is never moved by
  the calendar. Opinions are accepted until 23:59:59 Asia/Taipei of that day (`closes_at`), also
  if the sweep has not run yet. The agency may close early, with a published reason.
- **Opinions**: verified officials only (R3.2); several per official (at most
  `MAX_OPINIONS_PER_OFFICIAL`), each at most `OPINION_MAX` characters; the author may edit while
  the consultation is open, never after (the previous text is kept in the audit trail). Staff of
  the agency or the operations team may hide an abusive opinion on an R7 ground with a reason;
  the author is told. Opinions appear under the author's chosen display name only (R3.0, R4).
- **Summary** (R10.2): when the consultation closes, the summary is due 14 days after the close
  day, moved to the next working day; one extension, asked before that day ends, adds at most
  14 days (the full extension is always granted, so the published last day is the legal
  maximum), with a published reason. The sweep reminds the agency and the operations team once
  when the summary is overdue. Calendar overrides recompute the clocks not yet expired.
- **Notices**: an official who opts in while giving an opinion is told (LINE and email) when the
  consultation closes and when the summary is published. The agency is emailed at closing.

Every change takes the consultation's row lock, checks the transition, writes an audit row and
queues its notices in the same transaction (`unit_of_work`). Giving, editing, hiding and listing
opinions is in `models/opinions.py`.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar, settings
from .agencies import get_agency
from .base import BaseModel, DomainError, end_of_day_utc, format_taipei, is_postgres, taipei_date, utcnow
from .consultation_texts import FOOTER, MSG
from .events import record
from .notify import mail_agency, notify_official, public_base_url
from .officials import Official, clean_text
from .outbox import queue_mail, unit_of_work
from .proposals import SCOPES
from .staff import Staff, can_access_agency
from .states import Transitions

DRAFT = "draft"
IN_REVIEW = "in_review"  # R8.1: submitted to the operations team
APPROVED = "approved"  # R8.1: passed review; the agency opens it when it chooses
OPEN = "open"
CLOSED = "closed"
SUMMARISED = "summarised"

STATE_LABELS = {DRAFT: "草稿", IN_REVIEW: "營運小組審核中", APPROVED: "審核通過，待開放", OPEN: "徵詢中",
                CLOSED: "已結束，綜整回應中", SUMMARISED: "已綜整回應"}
CONSULTATION_STATES = Transitions("諮詢", {
    DRAFT: {IN_REVIEW},  # the agency submits its draft (R8.1)
    IN_REVIEW: {APPROVED, DRAFT},  # the team passes it, or returns it with reasons (第七點, 第十點（一）)
    APPROVED: {OPEN},  # only a reviewed consultation opens (R8)
    OPEN: {CLOSED}, CLOSED: {SUMMARISED}, SUMMARISED: set(),
}, STATE_LABELS)
PUBLISHED_STATES = {OPEN, CLOSED, SUMMARISED}  # shown on public pages and in open data

BASES = {  # R10.1.1–R10.1.3: why the agency consults
    "R10.1.1": "公務人員權益、責任及義務相關之政策、法令及措施之制（訂）定或修正",
    "R10.1.2": "社會關注之重大政策或民意代表關注之議題",
    "R10.1.3": "已執行中或預計推動之政策方案",
}
BASIS_CLAUSES = {"R10.1.1": "第十點（一）1", "R10.1.2": "第十點（一）2", "R10.1.3": "第十點（一）3"}
STAGES = {"forming": "政策形成", "execution": "政策執行", "evaluation": "政策評估"}  # R5.2

# Field limits: (label, max, min). Generous for real policy text, bounded against abuse.
FIELD_LIMITS = {
    "title": ("諮詢主題", 80, 4),
    "background": ("背景說明", 10000, 10),
    "questions": ("徵詢問題", 3000, 5),
}
SUMMARY_MAX = 20000
REASON_MAX = 1000
OPINION_MAX = 2000  # one opinion; a longer chat message is refused with the limit (officials may split it)
OPINION_MIN = 2
MAX_OPINIONS_PER_OFFICIAL = 20  # per consultation



class Consultation(BaseModel):
    """One policy consultation of one agency (R5.2, R10)."""

    agency_code = peewee.CharField(max_length=32, index=True)
    title = peewee.CharField(max_length=200)
    background = peewee.TextField()
    questions = peewee.TextField()
    scope = peewee.CharField(max_length=16)  # R6, the keys of proposals.SCOPES
    basis = peewee.CharField(max_length=8)  # R10.1.1 | R10.1.2 | R10.1.3
    stage = peewee.CharField(max_length=16)  # R5.2 forming | execution | evaluation
    state = peewee.CharField(max_length=16, default=DRAFT, index=True)
    version = peewee.IntegerField(default=1)  # bumped on every change: two staff at once, one wins
    created_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    submitted_at = peewee.DateTimeField(null=True)  # R8.1: sent to the team for review
    review_due = peewee.DateField(null=True, index=True)  # R8.1: 3 working days from the submission
    review_reminded_at = peewee.DateTimeField(null=True)
    reviewed_at = peewee.DateTimeField(null=True)
    reviewed_by = peewee.CharField(max_length=128, null=True)
    return_reasons = peewee.TextField(null=True)  # the team's reasons when it returned the draft
    opens_at = peewee.DateTimeField(null=True)
    closes_on = peewee.DateField(null=True)  # R10.1.4 last day (Asia/Taipei), chosen by the agency, never moved
    closes_at = peewee.DateTimeField(null=True, index=True)  # its 23:59:59 as naive UTC
    closed_at = peewee.DateTimeField(null=True)
    closed_early_reason = peewee.TextField(null=True)  # published
    summary_due = peewee.DateField(null=True, index=True)  # R10.2 last day, moved to a working day
    summary_extended_due = peewee.DateField(null=True)
    extension_reason = peewee.TextField(null=True)  # published
    extended_at = peewee.DateTimeField(null=True)
    summary = peewee.TextField(null=True)
    summary_published_at = peewee.DateTimeField(null=True)
    summary_reminded_at = peewee.DateTimeField(null=True)

    @property
    def number(self) -> str:
        return f"諮詢第 {self.id} 號"

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def scope_label(self) -> str:
        return SCOPES.get(self.scope or "", "")

    @property
    def basis_label(self) -> str:
        return BASES.get(self.basis or "", "")

    @property
    def basis_clause(self) -> str:
        return BASIS_CLAUSES.get(self.basis or "", "")

    @property
    def stage_label(self) -> str:
        return STAGES.get(self.stage or "", "")

    @property
    def agency_name(self) -> str:
        agency = get_agency(self.agency_code)
        return agency.name if agency else self.agency_code

    @property
    def opened_on(self) -> dt.date | None:
        return taipei_date(self.opens_at) if self.opens_at else None

    @property
    def closed_on(self) -> dt.date | None:
        return taipei_date(self.closed_at) if self.closed_at else None

    @property
    def effective_summary_due(self) -> dt.date | None:
        """The last day of the summary as it stands (after the extension, if any)."""
        return self.summary_extended_due or self.summary_due

    @property
    def summary_late(self) -> bool:
        due = self.effective_summary_due
        return bool(self.summary_published_at and due and taipei_date(self.summary_published_at) > due)


class Opinion(BaseModel):
    """One opinion of one official on one consultation; shown under the official's display name only."""

    consultation = peewee.ForeignKeyField(Consultation, backref="opinions", on_delete="RESTRICT")
    official = peewee.ForeignKeyField(Official, backref="opinions", on_delete="RESTRICT")
    text = peewee.TextField()
    notify = peewee.BooleanField(default=False)  # opted in: told at closing and when the summary is out
    created_at = peewee.DateTimeField(default=utcnow)
    edited_at = peewee.DateTimeField(null=True)
    hidden_at = peewee.DateTimeField(null=True)
    hidden_by = peewee.CharField(max_length=128, null=True)
    hidden_ground = peewee.CharField(max_length=8, null=True)  # R7.x
    hidden_reason = peewee.TextField(null=True)

    class Meta:
        indexes = ((("consultation", "created_at"), False), (("official", "consultation"), False))

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None




# --- helpers ----------------------------------------------------------------------------------

def lock(consultation_id: int) -> Consultation:
    """The consultation row, locked for the rest of the transaction (PostgreSQL)."""
    query = Consultation.select().where(Consultation.id == consultation_id)
    if is_postgres():
        query = query.for_update()
    consultation = query.first()
    if consultation is None:
        raise DomainError(MSG["not_found"], "not_found")
    return consultation


def _check_version(consultation: Consultation, expected_version: int | None) -> None:
    if expected_version is not None and consultation.version != expected_version:
        raise DomainError(MSG["stale"], "stale")


def _move(consultation: Consultation, new_state: str | None, now: dt.datetime, expected_version: int | None = None,
          **changes) -> None:
    """Change the row (and its state, unless None) if nobody changed it since it was read."""
    _check_version(consultation, expected_version)
    if new_state is not None:
        if not CONSULTATION_STATES.allowed(consultation.state, new_state):
            raise DomainError(MSG["bad_transition"].format(state=consultation.state_label, new=STATE_LABELS[new_state]),
                              "bad_transition")
        changes["state"] = new_state
    updated = (Consultation.update(version=Consultation.version + 1, updated_at=now, **changes)
               .where((Consultation.id == consultation.id) & (Consultation.version == consultation.version))
               .execute())
    if not updated:
        raise DomainError(MSG["stale"], "stale")
    consultation.version += 1
    consultation.updated_at = now
    for key, value in changes.items():
        setattr(consultation, key, value)


def _require_agency(staff: Staff, agency_code: str | None) -> None:
    if not can_access_agency(staff, agency_code):
        raise DomainError(MSG["forbidden"], "forbidden")


def consultation_link(consultation: Consultation, base_url: str | None = None) -> str:
    return f"{base_url if base_url is not None else public_base_url()}/consultations/{consultation.id}"


def _console_link(consultation: Consultation) -> str:
    return f"{public_base_url()}/console/consultations/{consultation.id}"


def _clean_reason(value: str, field: str) -> str:
    return clean_text(value, field=field, max_len=REASON_MAX, min_len=4, multiline=True)


def _clean_fields(fields: dict) -> dict:
    """Validate the agency's fields (title, background, questions, scope, basis, stage, agency_code)."""
    cleaned = {}
    for name, (label, max_len, min_len) in FIELD_LIMITS.items():
        value = clean_text(fields.get(name) or "", field=label, max_len=max_len, min_len=min_len,
                           multiline=name != "title")
        cleaned[name] = " ".join(value.split()) if name == "title" else value
    if fields.get("scope") not in SCOPES:
        raise DomainError(MSG["bad_scope"], "bad_scope")
    if fields.get("basis") not in BASES:
        raise DomainError(MSG["bad_basis"], "bad_basis")
    if fields.get("stage") not in STAGES:
        raise DomainError(MSG["bad_stage"], "bad_stage")
    agency = get_agency((fields.get("agency_code") or "").strip().upper())
    if agency is None or not agency.active:
        raise DomainError(MSG["bad_agency"], "bad_agency")
    cleaned.update(scope=fields["scope"], basis=fields["basis"], stage=fields["stage"], agency_code=agency.code)
    return cleaned


def latest_closes_on(open_day: dt.date) -> dt.date:
    """R10.1.4: the latest last day of a consultation opened on `open_day` (2 months, never moved)."""
    return calendar.due_date("R10.1.4", open_day)


def check_length(open_day: dt.date, closes_on: dt.date | None) -> dt.date:
    """`closes_on` if it is after the open day and at most 2 months after it (R10.1.4), else DomainError."""
    if closes_on is None:
        raise DomainError(MSG["no_closes_on"], "no_closes_on")
    if closes_on <= open_day:
        raise DomainError(MSG["closes_too_soon"].format(open=open_day), "closes_too_soon")
    latest = latest_closes_on(open_day)
    if closes_on > latest:
        raise DomainError(MSG["closes_too_late"].format(open=open_day, max=latest, chosen=closes_on), "too_long")
    return closes_on


# --- the agency: create, edit, open, close (R5.2, R10.1) ----------------------------------------

def create_consultation(staff: Staff, fields: dict, closes_on: dt.date | None,
                        now: dt.datetime | None = None) -> Consultation:
    """A draft consultation for the staff member's agency (ops: any agency); opened later."""
    now = now or utcnow()
    cleaned = _clean_fields(fields)
    _require_agency(staff, cleaned["agency_code"])
    if closes_on is None or closes_on <= taipei_date(now):
        raise DomainError(MSG["closes_too_soon"].format(open=taipei_date(now)), "closes_too_soon")
    with unit_of_work():
        consultation = Consultation.create(**cleaned, closes_on=closes_on, created_by=staff.actor,
                                           created_at=now, updated_at=now)
        record(staff.actor, "consultation_created", "consultation", consultation.id,
               detail={"agency": consultation.agency_code, "basis": consultation.basis}, now=now)
    return consultation


def update_draft(staff: Staff, consultation_id: int, fields: dict, closes_on: dt.date | None,
                 now: dt.datetime | None = None, *, expected_version: int | None = None) -> Consultation:
    """Edit a draft (nothing is published before it opens)."""
    now = now or utcnow()
    cleaned = _clean_fields(fields)
    with unit_of_work():
        consultation = lock(consultation_id)
        _require_agency(staff, consultation.agency_code)
        _require_agency(staff, cleaned["agency_code"])
        if consultation.state != DRAFT:
            raise DomainError(MSG["bad_transition"].format(state=consultation.state_label, new="草稿"), "not_draft")
        if closes_on is None or closes_on <= taipei_date(now):
            raise DomainError(MSG["closes_too_soon"].format(open=taipei_date(now)), "closes_too_soon")
        _move(consultation, None, now, expected_version, closes_on=closes_on, **cleaned)
        record(staff.actor, "consultation_edited", "consultation", consultation.id, now=now)
    return consultation


def open_consultation(staff: Staff, consultation_id: int, closes_on: dt.date | None = None,
                      now: dt.datetime | None = None, *, expected_version: int | None = None) -> Consultation:
    """Open now until the end of `closes_on` (default: the draft's), at most 2 months later (R10.1.4)."""
    now = now or utcnow()
    with unit_of_work():
        consultation = lock(consultation_id)
        _require_agency(staff, consultation.agency_code)
        if consultation.state in (DRAFT, IN_REVIEW):  # R8: never opened unreviewed
            raise DomainError(MSG["not_reviewed"].format(state=consultation.state_label), "not_reviewed")
        last_day = check_length(taipei_date(now), closes_on or consultation.closes_on)
        _move(consultation, OPEN, now, expected_version, opens_at=now, closes_on=last_day,
              closes_at=end_of_day_utc(last_day))
        record(staff.actor, "consultation_opened", "consultation", consultation.id,
               detail={"closes_on": last_day.isoformat()}, now=now)
    return consultation


def close_early(staff: Staff, consultation_id: int, reason: str, now: dt.datetime | None = None, *,
                expected_version: int | None = None) -> Consultation:
    """The agency ends the consultation before its last day, with a published reason; R10.2 counts from today."""
    now = now or utcnow()
    reason = _clean_reason(reason, "提前結束理由")
    with unit_of_work():
        consultation = lock(consultation_id)
        _require_agency(staff, consultation.agency_code)
        if consultation.state == OPEN and not window_open(consultation, now):
            raise DomainError(MSG["ended"].format(ends=f"{consultation.closes_on:%Y-%m-%d} 23:59"), "ended")
        _check_version(consultation, expected_version)
        _close(consultation, now, now, staff.actor, early_reason=reason)
    return consultation


def _close(consultation: Consultation, now: dt.datetime, closed_at: dt.datetime, actor: str,
           early_reason: str | None = None) -> None:
    """Close (locked row): the R10.2 clock starts from the close day; the agency and opted-in participants are told."""
    due = calendar.due_date("R10.2", taipei_date(closed_at))
    _move(consultation, CLOSED, now, closed_at=closed_at, summary_due=due, closed_early_reason=early_reason)
    count = opinion_counts([consultation.id]).get(consultation.id, 0)
    record(actor, "consultation_closed_early" if early_reason else "consultation_closed", "consultation",
           consultation.id, reason=early_reason, detail={"summary_due": due.isoformat(), "opinions": count}, now=now)
    fields = _fields(consultation, count)
    agency = get_agency(consultation.agency_code)
    key = f"consultation:{consultation.id}:closed:agency"
    subject, body = MSG["closed_agency_subject"].format(**fields), MSG["closed_agency_body"].format(**fields) + FOOTER
    if agency and agency.contact_email:
        mail_agency(agency, subject, body, dedupe_key=key, now=now)
    else:
        queue_mail(settings.OPS_NOTIFY_EMAIL, subject, body, dedupe_key=key, now=now)
    for official in participants_to_notify(consultation):
        notify_official(official, subject=MSG["closed_official_subject"].format(**fields),
                        body=MSG["closed_official_body"].format(**fields),
                        key=f"consultation:{consultation.id}:closed:official:{official.id}", now=now)


def _fields(consultation: Consultation, count: int | None = None) -> dict:
    due = consultation.effective_summary_due
    return {"title": consultation.title, "number": consultation.number, "agency": consultation.agency_name,
            "closed": format_taipei(consultation.closed_at) if consultation.closed_at else "",
            "due": f"{due:%Y-%m-%d}" if due else "", "link": consultation_link(consultation),
            "console": _console_link(consultation),
            "count": count if count is not None else opinion_counts([consultation.id]).get(consultation.id, 0)}


# --- officials: the opinion window (the opinions themselves: models/opinions.py) --------------

def window_open(consultation: Consultation, now: dt.datetime) -> bool:
    """Open, and not past 23:59:59 Asia/Taipei of the last day (even if the sweep has not run yet)."""
    return (consultation.state == OPEN and consultation.closes_at is not None and now <= consultation.closes_at)


def days_left(consultation: Consultation, now: dt.datetime) -> int:
    """Whole calendar days after today until the last day (0: it ends today)."""
    if consultation.closes_on is None:
        return 0
    return max(0, (consultation.closes_on - taipei_date(now)).days)


def viewable(consultation_id: int) -> Consultation:
    """A published consultation (open, closed or summarised), else DomainError."""
    consultation = Consultation.get_or_none(Consultation.id == consultation_id)
    if consultation is None or consultation.state not in PUBLISHED_STATES:
        raise DomainError(MSG["not_found"], "not_found")
    return consultation


# --- reading -----------------------------------------------------------------------------------

def published():
    return Consultation.select().where(Consultation.state.in_(PUBLISHED_STATES))


def open_consultations(now: dt.datetime, *, page: int = 0, per_page: int = 9) -> tuple[list[Consultation], bool]:
    """Consultations accepting opinions now, newest first, one page of them, and whether there are more."""
    query = (Consultation.select().where((Consultation.state == OPEN) & (Consultation.closes_at >= now))
             .order_by(Consultation.opens_at.desc(), Consultation.id.desc()))
    rows = list(query.offset(max(0, page) * per_page).limit(per_page + 1))
    return rows[:per_page], len(rows) > per_page


def opinion_counts(consultation_ids: list[int]) -> dict[int, int]:
    """{consultation id: opinions not hidden} in one query."""
    if not consultation_ids:
        return {}
    query = (Opinion.select(Opinion.consultation, peewee.fn.COUNT(Opinion.id))
             .where(Opinion.consultation.in_(consultation_ids) & Opinion.hidden_at.is_null())
             .group_by(Opinion.consultation).tuples())
    return {cid: count for cid, count in query}


def participants_to_notify(consultation: Consultation) -> list[Official]:
    """Officials who opted in on any of their opinions (one each)."""
    ids = Opinion.select(Opinion.official).where((Opinion.consultation == consultation.id) & (Opinion.notify == True))  # noqa: E712
    return list(Official.select().where(Official.id.in_(ids)).order_by(Official.id))


def console_list(agency_code: str | None = None) -> list[Consultation]:
    """Every consultation (of one agency, for agency staff): those in review, drafts and open ones first."""
    query = Consultation.select()
    if agency_code is not None:
        query = query.where(Consultation.agency_code == agency_code)
    order = peewee.Case(Consultation.state, ((IN_REVIEW, 0), (DRAFT, 1), (APPROVED, 2), (OPEN, 3), (CLOSED, 4)), 5)
    return list(query.order_by(order, Consultation.id.desc()))


def is_summary_overdue(consultation: Consultation, today: dt.date) -> bool:
    due = consultation.effective_summary_due
    return consultation.state == CLOSED and due is not None and due < today
