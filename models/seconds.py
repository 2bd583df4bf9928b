"""Seconding (附議, R9.3): browse, second with an emailed code, establish at the threshold, notify, lapse.

Rules this module keeps, and the decisions taken where the regulation is silent:

- **Who may second** (R9.3.1): a verified, unblocked official (`require_verified`). The proposer
  and the confirmed co-proposers of a group proposal may *not* second their own proposal: the
  200 seconds are other officials' support (R9.3.2), and a group of proposers would otherwise
  lower the bar by its own size.
- **One action, verified by email** (R9.3.4): `request_second` only issues a code (purpose
  "second", subject = the proposal); nothing counts until the code is confirmed, in the chat or
  by replying to the email. A pending second (code sent, not confirmed) does not count and its
  code simply expires (`verification.CODE_TTL`).
- **One second per official and proposal**: a UNIQUE index on (official, proposal) makes a repeat
  impossible, however it arrives (LINE redelivery, a double tap, an email reply after the chat
  code); a repeat is answered 「您已附議過這個提案」.
- **A second can never be cancelled**: there is no function, command, page or console action that
  deletes a `Second` row or changes what it counts, and its foreign keys are ON DELETE RESTRICT, so
  not even deleting the official or the proposal removes one. The only way out is to edit the
  database by hand, which the rules do not allow. (Its official may turn the outcome notice,
  `notify_result`, on or off: models.my_seconds.)
- **Threshold and window** (R9.3.2): seconds are accepted from the moment a proposal passes
  review until 23:59:59 Asia/Taipei of `seconding_ends` (`seconding_ends_at`), also after it is
  established. The second that reaches `settings.SECONDING_THRESHOLD` establishes the proposal
  in the same transaction, under the proposal's row lock, so it happens exactly once however
  many seconds are confirmed at the same instant. A code confirmed after the window closed is
  used up but does not count, with a clear answer. Once an agency has responded (`responded`,
  R9.4.3) the proposal no longer takes seconds, even if its window has not ended: the outcome
  they would support is decided.
- **Next-day notice** (R9.3.3): the sweep tells the proposer and the responsible agencies on
  the calendar day after the threshold was reached, once, and starts the R9.4.4 response clock.
- **Lapse**: the sweep marks a proposal whose window ended below the threshold as lapsed.
  Seconders who opted in are told of either outcome.
"""
from __future__ import annotations

import datetime as dt
import logging
import unicodedata

import peewee

from . import calendar, ratelimit, settings
from .agencies import get_agency
from .agency_assignments import responsible_roles
from .base import (
    BaseModel,
    DomainError,
    create_row,
    format_taipei,
    is_postgres,
    kept_statement,
    quoted,
    row_by,
    rows_where,
    taipei_date,
    utcnow,
    where_clause,
)
from .events import record, record_many
from .notify import mail_agency, notify_official, official_notice, public_base_url
from .officials import Official, require_verified
from .outbox import queue_mail, queue_rows, unit_of_work
from .proposals import (
    ESTABLISHED,
    LAPSED,
    PROPOSAL_STATES,
    REMOVED,
    SECONDING,
    STALE,
    CoProposer,
    Proposal,
    _move,
    lock,
    proposal_link,
)
from .response_links import link_text
from .seconding_texts import MSG
from .terms import require_participant
from .verification import CODE_TTL, PURPOSE_SECOND, VerificationCode, issue_code
from .verification import PENDING as CODE_PENDING
from .verification import RESEND_COOLDOWN as CODE_RESEND_COOLDOWN

log = logging.getLogger(__name__)

ACCEPTING_STATES = {SECONDING, ESTABLISHED}  # R9.3.2: seconds count until the window ends, also once established
BROWSE_STATES = ACCEPTING_STATES
VIEWABLE_STATES = {SECONDING, ESTABLISHED, LAPSED, "responded"}
WRONG_CODE_WINDOW = dt.timedelta(hours=1)
KEYWORD_MAX = 20

ORDER_NEWEST = "new"
ORDER_CLOSEST = "close"
ORDERS = {ORDER_NEWEST: "最新", ORDER_CLOSEST: "最接近門檻"}

# Text for people (zh-TW), one place.


class Second(BaseModel):
    """One valid second (附議): created only when its emailed code is confirmed; never deleted or changed."""

    proposal = peewee.ForeignKeyField(Proposal, backref="seconds", on_delete="RESTRICT")
    official = peewee.ForeignKeyField(Official, backref="seconds", on_delete="RESTRICT")
    notify_result = peewee.BooleanField(default=False)  # opted in: told on establishment or lapse
    via = peewee.CharField(max_length=8)  # chat | email: how the code was confirmed
    code_id = peewee.IntegerField(null=True)  # the VerificationCode that confirmed it (trace)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("official", "proposal"), True),)  # R9.3.4: one official, one second per proposal


class SecondRequest(BaseModel):
    """What the official chose when asking for a seconding code (the code row itself is generic)."""

    code = peewee.ForeignKeyField(VerificationCode, unique=True, on_delete="CASCADE")
    notify = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)




# --- reading ----------------------------------------------------------------------------------

def threshold() -> int:
    return settings.SECONDING_THRESHOLD


def window_open(proposal: Proposal, now: dt.datetime) -> bool:
    """R9.3.2: the window ends at 23:59:59.999999 Asia/Taipei of its last day."""
    return proposal.seconding_ends_at is not None and now <= proposal.seconding_ends_at


def days_left(proposal: Proposal, now: dt.datetime) -> int:
    """Whole calendar days after today until the last day (0: the window ends today)."""
    if proposal.seconding_ends is None:
        return 0
    return max(0, (proposal.seconding_ends - taipei_date(now)).days)


def normalise_keyword(value: str) -> str:
    """NFKC, lower case, 台 → 臺: a search for 台中 finds 臺中 and the reverse."""
    value = unicodedata.normalize("NFKC", value or "").strip().lower().replace("台", "臺")
    return "".join(ch for ch in value if unicodedata.category(ch)[0] != "C")[:KEYWORD_MAX]


def _folded(field):
    return peewee.fn.REPLACE(peewee.fn.LOWER(field), "台", "臺")


def open_for_seconding(now: dt.datetime, *, order: str = ORDER_NEWEST, keyword: str = "", page: int = 0,
                       per_page: int = 9) -> tuple[list[Proposal], bool]:
    """R9.3.1: proposals now accepting seconds, one page of them, and whether there are more."""
    query = Proposal.select().where(Proposal.state.in_(BROWSE_STATES) & (Proposal.seconding_ends_at >= now))
    keyword = normalise_keyword(keyword)
    if keyword:
        query = query.where(_folded(Proposal.title).contains(keyword) | _folded(Proposal.content).contains(keyword))
    if order == ORDER_CLOSEST:
        # Not yet established first, most seconds first; then the one whose window ends soonest.
        query = query.order_by(Proposal.established_at.is_null(False), Proposal.second_count.desc(),
                               Proposal.seconding_ends_at, Proposal.id.desc())
    else:
        query = query.order_by(Proposal.seconding_started_at.desc(), Proposal.id.desc())
    page = max(0, page)
    rows = list(query.offset(page * per_page).limit(per_page + 1))
    return rows[:per_page], len(rows) > per_page


def seconded_ids(official: Official, proposal_ids: list[int]) -> set[int]:
    """Which of these proposals the official has already seconded (one query)."""
    if not proposal_ids:
        return set()
    return {pid for (pid,) in Second.select(Second.proposal).where(
        (Second.official == official) & Second.proposal.in_(proposal_ids)).tuples()}


def has_seconded(official: Official, proposal_id: int) -> bool:
    return Second.select().where((Second.official == official) & (Second.proposal == proposal_id)).exists()


def is_own(official: Official, proposal: Proposal) -> bool:
    """The proposer, or a confirmed co-proposer of a group proposal."""
    if proposal.proposer_id == official.id:
        return True
    return CoProposer.select().where((CoProposer.proposal == proposal.id) & (CoProposer.official == official)
                                     & CoProposer.confirmed_at.is_null(False)).exists()


def viewable(proposal_id: int) -> Proposal:
    """A proposal an official may open from the seconding list (published, not removed)."""
    proposal = row_by(Proposal.id, proposal_id)
    if proposal is None or proposal.state not in VIEWABLE_STATES:
        if proposal is not None and proposal.state == REMOVED:
            raise DomainError("這個提案已被移除。", "removed")
        raise DomainError(MSG["not_found"], "not_found")
    return proposal


def refusal(official: Official, proposal: Proposal, now: dt.datetime) -> tuple[str, str] | None:
    """Why this official cannot second this proposal now, as (code, zh-TW message); None if they can."""
    closed = _closed_refusal(proposal, now)
    if closed:
        return closed
    own, seconded = _own_or_seconded(official, proposal)
    if own:
        return "own", MSG["own"]
    if seconded:
        return "already", MSG["already"]
    return None


def _own_or_seconded(official: Official, proposal: Proposal) -> tuple[bool, bool]:
    """`is_own` and `has_seconded` in one statement (both are asked on every tap and confirmation)."""
    if proposal.proposer_id == official.id:
        return True, False
    database = Second._meta.database
    sql = kept_statement(("own_or_seconded", database.param), lambda: (
        f'SELECT EXISTS (SELECT 1 FROM "{CoProposer._meta.table_name}" WHERE '
        + where_clause(((CoProposer.proposal, "="), (CoProposer.official, "="), (CoProposer.confirmed_at, "not null")),
                       database.param)[0]
        + f'), EXISTS (SELECT 1 FROM "{Second._meta.table_name}" WHERE '
        + where_clause(((Second.official, "="), (Second.proposal, "=")), database.param)[0] + ")"))
    found = database.execute_sql(sql, [proposal.id, official.id, official.id, proposal.id]).fetchone()
    return bool(found[0]), bool(found[1])


# --- seconding (R9.3.4) -----------------------------------------------------------------------

class SecondRequested:
    """The answer to `request_second`: the code row, and whether a new email went out."""

    def __init__(self, code: VerificationCode, sent: bool):
        self.code = code
        self.sent = sent


def request_second(official: Official, proposal_id: int, notify: bool, reply_domain: str,
                   now: dt.datetime | None = None) -> SecondRequested:
    """R9.3.4: email a code to second this proposal; the second counts only once the code is confirmed.

    A tap repeated while the last code is fresh (within the re-send cooldown) sends nothing new.
    """
    now = now or utcnow()
    require_participant(official)  # R4: the terms of use accepted before seconding
    proposal = row_by(Proposal.id, proposal_id)
    if proposal is None or proposal.state not in VIEWABLE_STATES | {REMOVED}:
        raise DomainError(MSG["not_found"], "not_found")
    refused = refusal(official, proposal, now)
    if refused:
        raise DomainError(refused[1], refused[0])
    # One read of the official's recent codes answers three questions: a fresh pending code for this
    # proposal (a repeated tap), the newest code for it (issue_code's cooldown), and the wrong tries
    # of the last hour (the limit). Every code that matters to them is that recent.
    recent = rows_where(VerificationCode, ((VerificationCode.official, "="), (VerificationCode.created_at, ">")),
                        (official, now - max(WRONG_CODE_WINDOW, CODE_TTL)),
                        order=((VerificationCode.created_at, "desc"), (VerificationCode.id, "desc")))
    for_this = [r for r in recent if r.purpose == PURPOSE_SECOND and r.subject_id == proposal.id]
    pending = next((r for r in for_this if r.status == CODE_PENDING and r.expires_at > now), None)
    if pending is not None and now - pending.created_at < CODE_RESEND_COOLDOWN:
        SecondRequest.update(notify=bool(notify)).where(SecondRequest.code == pending.id).execute()
        pending.chosen_notify = bool(notify)
        return SecondRequested(pending, sent=False)
    # Wrong codes are counted in the database too, so the limit holds without Redis.
    wrong = sum(r.wrong_tries for r in recent if r.created_at > now - WRONG_CODE_WINDOW)
    if wrong >= ratelimit.WRONG_CODES_PER_OFFICIAL.limit:
        raise DomainError(MSG["wrong_codes"], "rate_limited")
    ratelimit.check_second_code_request(official.id, proposal.id)
    row = issue_code(official, PURPOSE_SECOND, official.verified_email, describe=lambda _row: _mail_text(proposal),
                     subject_id=proposal.id, reply_domain=reply_domain, now=now,
                     previous=for_this[0] if for_this else None)
    create_row(SecondRequest, code=row.id, notify=bool(notify), created_at=now)
    row.chosen_notify = bool(notify)  # the resend button reads it (second_request_notify) without a query
    ratelimit.count_second_code_request(official.id, proposal.id)
    return SecondRequested(row, sent=True)


def _describe(row: VerificationCode) -> tuple[str, str]:
    return _mail_text(Proposal.get_or_none(Proposal.id == row.subject_id))


def _mail_text(proposal: Proposal | None) -> tuple[str, str]:
    if proposal is None:  # pragma: no cover - codes are only issued for existing proposals
        return MSG["mail_subject"].format(number=""), ""
    return (MSG["mail_subject"].format(number=proposal.number),
            MSG["mail_what"].format(number=proposal.number, title=proposal.title, agency=proposal.agency_name))


def pending_second_what(row: VerificationCode) -> str:
    """What a pending seconding code is for, for the chat's reminder."""
    proposal = Proposal.get_or_none(Proposal.id == row.subject_id)
    return MSG["pending_what"].format(number=proposal.number if proposal else "", title=proposal.title if proposal else "")


def second_request_notify(row: VerificationCode) -> bool:
    """The opt-in the official chose with this code (a resend keeps it)."""
    known = getattr(row, "chosen_notify", None)  # set by request_second on the row it returns
    if known is not None:
        return known
    chosen = row_by(SecondRequest.code, row.id)
    return bool(chosen and chosen.notify)


def confirm_second(row: VerificationCode, now: dt.datetime) -> str:
    """The code was confirmed: count the second, and establish the proposal at the threshold (R9.3.2).

    Never raises for a refusal: raising would roll back the code's confirmation and let it be
    tried again; the code stays used and the official is told why nothing was counted.

    The proposal's row lock serialises every second of the proposal until its transaction commits,
    so it is taken as late as possible: who the official is and their choice, the refusals, and the
    second's own row (whose unique index is the last word on "one second each") come first; the lock
    then covers only a re-check of what another transaction may have changed meanwhile (the
    proposal closed, withdrawn or lapsed: the second's row is deleted again) and the count.
    """
    official = row.official  # the chat's match attaches the official it read; a reply's row loads it
    notify = second_request_notify(row)
    try:
        require_verified(official)
    except DomainError as error:
        return error.message
    proposal = row_by(Proposal.id, row.subject_id)
    if proposal is None:
        return MSG["not_found"]
    refused = refusal(official, proposal, now)
    if refused:
        return _refused_on_confirm(official, proposal, row, refused, now)
    second = create_row(Second, if_new=True, proposal=proposal.id, official=official.id, notify_result=notify,
                        via=row.confirmed_via or "chat", code_id=row.id, created_at=now)
    if second is None:  # the unique index is the last word on "one second each"
        return MSG["already"]
    proposal = lock(row.subject_id)  # from here to the commit, this proposal's other seconds wait
    closed = _closed_refusal(proposal, now)
    if closed:  # closed, withdrawn or lapsed since it was read: the second's row is undone
        Second.delete().where(Second.id == second.id).execute()
        return _refused_on_confirm(official, proposal, row, closed, now)
    database = Proposal._meta.database
    database.execute_sql(kept_statement(("count_second", database.param), lambda: (
        f'UPDATE "{Proposal._meta.table_name}" SET {quoted(Proposal.second_count)} = {quoted(Proposal.second_count)} + 1'
        f" WHERE {quoted(Proposal.id)} = {database.param}")), [proposal.id])
    count = proposal.second_count + 1  # exact: the row is locked, and every writer of the count locks it
    proposal.second_count = count
    message = MSG["counted"].format(number=proposal.number, title=proposal.title, count=count, threshold=threshold())
    if count >= threshold() and proposal.established_at is None and proposal.state == SECONDING:
        establish(proposal, official.actor, now, skip_official_id=official.id)
        message += MSG["counted_established"].format(threshold=threshold())
    elif proposal.state == ESTABLISHED:
        message += MSG["counted_after"]
    if notify and proposal.state == SECONDING:
        message += MSG["counted_notify"]
    return message


def _closed_refusal(proposal: Proposal, now: dt.datetime) -> tuple[str, str] | None:
    """The part of `refusal` another transaction can change under a confirmation: the proposal's
    state and window (who proposed it and who seconded it are settled by then)."""
    if proposal.state not in ACCEPTING_STATES:
        return "not_open", MSG["not_open"].format(state=proposal.state_label)
    if not window_open(proposal, now):
        return "closed", MSG["closed"].format(ends=_window_end(proposal))
    return None


def _window_end(proposal: Proposal) -> str:
    """The last minute of the seconding window, as people read it (R9.3.2)."""
    return f"{proposal.seconding_ends:%Y-%m-%d} 23:59"


def _refused_on_confirm(official: Official, proposal: Proposal, row: VerificationCode,
                        refused: tuple[str, str], now: dt.datetime) -> str:
    code, message = refused
    if code == "closed":
        message = MSG["closed_on_confirm"].format(number=proposal.number, title=proposal.title,
                                                  ends=_window_end(proposal))
    elif code == "not_open":
        message = MSG["not_open_on_confirm"].format(number=proposal.number, title=proposal.title,
                                                    state=proposal.state_label)
    record(official.actor, "second_refused", "proposal", proposal.id, reason=code,
           detail={"code": row.id}, now=now)
    return message


def establish(proposal: Proposal, actor: str, now: dt.datetime, *, skip_official_id: int | None = None) -> None:
    """R9.3.2/R9.3.3: the threshold is reached now; the notice is due the next calendar day.

    Called with the proposal row locked, from the confirmation that reached the threshold (or by
    the sweep when the threshold setting was lowered during the window).
    """
    _move(proposal, ESTABLISHED, now, established_at=now,
          notice_due=calendar.due_date("R9.3.3", taipei_date(now)))
    record(actor, "established", "proposal", proposal.id,
           detail={"seconds": proposal.second_count, "threshold": threshold()}, now=now)
    _tell_seconders(proposal, "established", MSG["est_seconder_subject"], MSG["est_seconder_body"], now,
                    skip_official_id=skip_official_id)


def _fields(proposal: Proposal, base_url: str = "") -> dict:
    return {"number": proposal.number, "title": proposal.title, "threshold": threshold(),
            "count": proposal.second_count, "link": proposal_link(proposal, base_url or public_base_url()),
            "ends": _window_end(proposal) if proposal.seconding_ends else "",
            "when": format_taipei(proposal.established_at) if proposal.established_at else ""}


def _tell_seconders(proposal: Proposal, event: str, subject: str, body: str, now: dt.datetime,
                    skip_official_id: int | None = None) -> int:
    """Tell every seconder who opted in, once each (outbox dedupe keys)."""
    fields = _fields(proposal)
    told = 0
    query = (Second.select(Second, Official).join(Official)
             .where((Second.proposal == proposal.id) & (Second.notify_result == True)))  # noqa: E712
    for second in query:
        if second.official_id == skip_official_id:
            continue
        notify_official(second.official, subject=subject.format(**fields), body=body.format(**fields),
                        key=f"proposal:{proposal.id}:{event}:seconder:{second.official_id}", now=now)
        told += 1
    return told




# --- the sweep: next-day notice (R9.3.3) and lapse (R9.3.2) -----------------------------------

def responsible_agency_codes(proposal: Proposal) -> list[str]:
    """The agencies to notify: those holding the proposal (R9.2.5; never a released or withdrawn one)."""
    found = responsible_roles(proposal)
    return list(dict.fromkeys(found["lead"] + found["co"]))


def send_establishment_notices(now: dt.datetime) -> int:
    """Sweep step (R9.3.3): on the day after the threshold, tell the proposer and the agencies, once.

    The notice instant starts the agency's response clock (R9.4.4).
    """
    today = taipei_date(now)
    candidates = [p.id for p in Proposal.select(Proposal.id).where(
        Proposal.established_at.is_null(False) & Proposal.notified_at.is_null() & (Proposal.notice_due <= today)
        & (Proposal.state != REMOVED))]
    sent = 0
    for proposal_id in candidates:
        with unit_of_work():
            proposal = lock(proposal_id)
            if proposal.notified_at is not None or proposal.state == REMOVED:
                continue
            response_due = calendar.due_date("R9.4.4", taipei_date(now))
            claimed = (Proposal.update(notified_at=now, response_due=response_due)
                       .where((Proposal.id == proposal.id) & Proposal.notified_at.is_null()).execute())
            if not claimed:
                continue
            proposal.notified_at, proposal.response_due = now, response_due
            _send_notice(proposal, response_due, now)
            record("system:sweep", "establishment_notified", "proposal", proposal.id,
                   detail={"response_due": f"{response_due:%Y-%m-%d}"}, now=now)
            sent += 1
    return sent


def _send_notice(proposal: Proposal, response_due: dt.date, now: dt.datetime) -> None:
    fields = _fields(proposal)
    fields["due"] = f"{response_due:%Y-%m-%d}"
    codes = responsible_agency_codes(proposal)
    names = []
    for code in codes:
        agency = get_agency(code)
        name = agency.name if agency else code
        names.append(name)
        key = f"proposal:{proposal.id}:established-notice:agency:{code}"
        if agency is not None and agency.contact_email:
            body = MSG["notice_agency_body"].format(agency=name, **fields)
            # issue 11 item 6: respond without an account, by a link scoped to each address it is mailed to
            mail_agency(agency, MSG["notice_agency_subject"].format(**fields),
                        lambda address, body=body, code=code: body + link_text(proposal.id, code, address),
                        dedupe_key=key, now=now)
        else:  # the team must pass it on by hand: never lose a notice silently
            queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["notice_no_contact_subject"].format(**fields),
                       MSG["notice_no_contact_body"].format(agency=name, **fields), dedupe_key=key, now=now)
    fields["agencies"] = "、".join(names) or "營運小組指定之機關"
    recipients = [proposal.proposer] + [c.official for c in CoProposer.select(CoProposer, Official).join(Official)
                                        .where((CoProposer.proposal == proposal.id)
                                               & CoProposer.confirmed_at.is_null(False))]
    for person in recipients:
        notify_official(person, subject=MSG["notice_proposer_subject"].format(**fields),
                        body=MSG["notice_proposer_body"].format(**fields),
                        key=f"proposal:{proposal.id}:established-notice:official:{person.id}", now=now)


# Windows lapsed per transaction: one locking SELECT, one UPDATE, one audit INSERT and one outbox
# INSERT per chunk (bench/sweep.py: 1,000 lapses were 7-13 s as one transaction each).
LAPSE_CHUNK = 250


def lapse_seconding(now: dt.datetime) -> int:
    """Sweep step (R9.3.2): a window that ended below the threshold: lapsed; proposer and opted-in seconders told.

    Chunks of due proposals are locked at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so a second
    sweep takes other rows or none), moved in one UPDATE, audited and noticed in batches, each chunk
    in its own transaction. The notices keep their dedupe keys, so a chunk re-run after a crash
    never doubles one."""
    lapsed = 0
    while True:
        with unit_of_work():
            chunk = _lock_ended_windows(now, LAPSE_CHUNK)
            lapsed += _lapse(chunk, now)
        if len(chunk) < LAPSE_CHUNK:
            return lapsed


def _lock_ended_windows(now: dt.datetime, limit: int) -> list[Proposal]:
    """Up to `limit` proposals still seconding whose window ended before `now`, locked (PostgreSQL;
    rows another transaction holds are skipped: they are in its hands, or in the next sweep's)."""
    query = (Proposal.select().where((Proposal.state == SECONDING) & (Proposal.seconding_ends_at < now))
             .order_by(Proposal.seconding_ends_at, Proposal.id).limit(limit))  # index proposal_seconding_open_ends_at
    if is_postgres():
        query = query.for_update("FOR UPDATE SKIP LOCKED")
    return list(query)  # ended before `now`: no window among them is open (`window_open`)


def _lapse(chunk: list[Proposal], now: dt.datetime) -> int:
    """Lapse the locked proposals of one chunk; returns how many lapsed."""
    to_lapse = []
    for proposal in chunk:
        if proposal.second_count >= threshold():
            # Only possible if the threshold setting was lowered during the window: the proposal has
            # the seconds the rule now asks for, so it is established (never lapsed), and noticed.
            log.warning("proposal %s ended its window at %s seconds, at or above the threshold: established",
                        proposal.id, proposal.second_count)
            establish(proposal, "system:sweep", now)
        else:
            to_lapse.append(proposal)
    if not to_lapse:
        return 0
    PROPOSAL_STATES.check(SECONDING, LAPSED)
    ids = [proposal.id for proposal in to_lapse]
    moved = (Proposal.update(state=LAPSED, version=Proposal.version + 1, updated_at=now, lapsed_at=now)
             .where(Proposal.id.in_(ids) & (Proposal.state == SECONDING)).execute())
    if moved != len(ids):  # the rows are locked (PostgreSQL), so only a racing writer on SQLite gets here
        raise DomainError(STALE, "stale")
    record_many("system:sweep", "lapsed", "proposal",
                {p.id: {"seconds": p.second_count, "threshold": threshold()} for p in to_lapse}, now=now)
    proposers = {o.id: o for o in Official.select().where(Official.id.in_({p.proposer_id for p in to_lapse}))}
    seconders: dict[int, list[Second]] = {}
    for second in (Second.select(Second, Official).join(Official)
                   .where(Second.proposal.in_(ids) & (Second.notify_result == True))  # noqa: E712
                   .order_by(Second.id)):
        seconders.setdefault(second.proposal_id, []).append(second)
    base = public_base_url()
    rows = []
    for proposal in to_lapse:
        proposal.state, proposal.lapsed_at = LAPSED, now
        fields = _fields(proposal, base)
        # Keyed by the last day: a proposal reopened by a corrected window (models.month_clocks)
        # that lapses again is told again.
        event = f"lapsed:{proposal.seconding_ends:%Y%m%d}"
        rows += official_notice(proposers[proposal.proposer_id], subject=MSG["lapse_proposer_subject"].format(**fields),
                                body=MSG["lapse_proposer_body"].format(**fields), key=f"proposal:{proposal.id}:{event}")
        for second in seconders.get(proposal.id, []):
            rows += official_notice(second.official, subject=MSG["lapse_seconder_subject"].format(**fields),
                                    body=MSG["lapse_seconder_body"].format(**fields),
                                    key=f"proposal:{proposal.id}:{event}:seconder:{second.official_id}")
    queue_rows(rows, now=now)
    return len(to_lapse)
