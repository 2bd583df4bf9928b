"""The response clock in the sweep (R9.4.4): reminders, and corrections when the office calendar changes.

- `remind_responses`: the lead agencies that have not published are reminded 7 days before the last
  day, and once more, with the operations team, when it has passed (R9.4.3: each lead answers).
- `recompute_due`: a closure or make-up day (R2.3) moves every open response clock; the agencies
  holding the proposal are told the corrected last day.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar, settings
from .agencies import get_agency
from .agency_assignments import responsible_by_proposal
from .base import among, taipei_date
from .events import record, record_many
from .notify import agency_mails, public_base_url
from .outbox import Outbox, queue_mail, queue_mails, unit_of_work
from .proposals import ESTABLISHED, Proposal, lock
from .response_links import link_text
from .responses import (
    BODIES,
    CO,
    LEAD,
    SUBJECTS,
    Extension,
    agency_name,
    effective_due,
    merged_into,
    missing_leads,
)

REMIND_DAYS_BEFORE = 7  # R9.4.4: a reminder this many days before the last day
CORRECTED_SUBJECT = "【政策參與平臺】提案回應期限更正為 {due}：提案{number}"
CORRECTED_BODY = ("{agency} 承辦同仁您好：\n\n因辦公日曆異動（停止上班或補行上班），提案{number}「{title}」的回應期限"
                  "依規定重新計算，更正為 {due}（第九點（四）4；期限末日非工作日者順延）。\n{console}\n")


# --- the sweep: reminders (R9.4.4) ------------------------------------------------------------------

def _reminder_mails(proposal: Proposal, kind: str, due: dt.date) -> list[tuple[str, str, str, str]]:
    """(dedupe key, to, subject, body) of one reminder: to each lead agency, and the team when overdue."""
    main = merged_into(proposal.id)
    base = public_base_url()
    fields = {"number": proposal.number, "title": proposal.title, "due": f"{due:%Y-%m-%d}",
              "merged": f"（本提案已併入提案{main.number}一併研議，回應主案即一併回應。）" if main else "",
              "console": f"工作臺：{base}/console/responses/{(main or proposal).id}"}
    leads = missing_leads(proposal)  # a lead that published is not reminded (R9.4.3: each lead answers)
    fields["agency"] = "、".join(agency_name(c) for c in leads) or "（未指定）"
    key = f"proposal:{proposal.id}:response-{kind}:{due:%Y%m%d}"
    subject = SUBJECTS[kind].format(**fields)
    mails = []
    for code in leads:
        agency = get_agency(code)
        body = BODIES[kind].format(**{**fields, "agency": agency_name(code)}) + BODIES["footer"]
        if agency is not None and agency.contact_email:
            mails.extend(agency_mails(agency, subject,  # every contact address, its own link (issue 11 item 6)
                                      lambda address, code=code, body=body: body + link_text(proposal.id, code, address),
                                      dedupe_key=f"{key}:agency:{code}"))
        elif kind != "overdue":  # no address: the team passes it on (overdue ones reach the team anyway)
            mails.append((f"{key}:agency:{code}", settings.OPS_NOTIFY_EMAIL, subject, body))
    if kind == "overdue":
        mails.append((f"{key}:ops", settings.OPS_NOTIFY_EMAIL, subject, BODIES["overdue_ops"].format(**fields) + BODIES["footer"]))
    return mails


def _all_queued(mails: list[tuple[str, str, str, str]]) -> bool:
    keys = [key for key, *_ in mails]
    return bool(keys) and Outbox.select().where(Outbox.dedupe_key.in_(keys)).count() == len(keys)


def remindable(today: dt.date):
    """Established proposals whose reminder of today's kind for their current last day is not queued
    yet (R9.4.4): the marker columns keep every proposal already reminded out of a minute's sweep. A
    changed last day (extension, calendar change) or a due_soon reminder whose day has passed (now
    overdue) no longer matches the marker, so the proposal is read again."""
    due = peewee.fn.COALESCE(Proposal.response_extended_due, Proposal.response_due)
    horizon = today + dt.timedelta(days=REMIND_DAYS_BEFORE)
    done = ((Proposal.response_reminded_due == due)
            & ((Proposal.response_reminded_kind == "overdue") | (due >= today)))
    return Proposal.select().where(
        (Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null(False) & (due <= horizon)
        & (Proposal.response_reminded_due.is_null() | ~done))


def _mark_reminded(proposal_id: int, kind: str, due: dt.date) -> None:
    Proposal.update(response_reminded_kind=kind, response_reminded_due=due).where(Proposal.id == proposal_id).execute()


def remind_responses(now: dt.datetime) -> int:
    """Sweep step (R9.4.4): remind the lead agencies 7 days before the last day, and once more, with the
    operations team, when it has passed; each once per proposal, last day and recipient (outbox keys,
    and the proposal's marker, which keeps the sweep's query to the proposals not yet reminded).
    Returns the number of proposals reminded."""
    today = taipei_date(now)
    reminded = 0
    for candidate in list(remindable(today)):
        last_day = effective_due(candidate)
        kind = "overdue" if last_day < today else "due_soon"
        if _all_queued(_reminder_mails(candidate, kind, last_day)):  # queued before the marker existed
            _mark_reminded(candidate.id, kind, last_day)
            continue
        with unit_of_work():
            proposal = lock(candidate.id)  # two sweeps at once: the second waits, then finds the rows
            if proposal.state != ESTABLISHED or effective_due(proposal) != last_day:
                continue
            queued = [queue_mail(to, subject, body, dedupe_key=key, now=now)
                      for key, to, subject, body in _reminder_mails(proposal, kind, last_day)]
            if queued:  # no lead to remind (none assigned yet): read again next minute, as before
                _mark_reminded(proposal.id, kind, last_day)
            if not any(queued):
                continue
            record("system:sweep", f"response_{kind}_reminded", "proposal", proposal.id,
                   detail={"due": last_day.isoformat()}, now=now)
            reminded += 1
    return reminded


def recompute_due(now: dt.datetime) -> None:
    """Calendar overrides count at once for every open clock (R2.3): response clocks not yet expired as of
    `now` move. Reads the clocks as plain tuples, computes each last day once per notice day, and writes
    the moved ones in one UPDATE per new value (100k proposals: one pass, not a query per clock)."""
    today = taipei_date(now)
    rows = (Proposal.select(Proposal.id, Proposal.notified_at, Proposal.response_due, Proposal.response_extended_due)
            .where((Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null(False)
                   & Proposal.response_due.is_null(False)).tuples())
    bases: dict[dt.date, dt.date] = {}
    extended: dict[dt.date, dt.date] = {}
    changed: dict[int, dict[str, dt.date]] = {}
    for proposal_id, notified_at, response_due, extended_due in rows:
        base = response_due
        if base >= today:
            notice_day = taipei_date(notified_at)
            base = bases.get(notice_day) or bases.setdefault(notice_day, calendar.due_date("R9.4.4", notice_day))
        changes = {"response_due": base} if base != response_due else {}
        if extended_due is not None and extended_due >= today:
            new_due = extended.get(base) or extended.setdefault(base, calendar.extension_due("R9.4.4", base))
            changes["_extension"] = (base, new_due)
            if new_due != extended_due:
                changes["response_extended_due"] = new_due
        if changes:
            changed[proposal_id] = changes
    _move_extensions({pid: c.pop("_extension") for pid, c in changed.items() if "_extension" in c})
    changed = {pid: c for pid, c in changed.items() if c}
    groups: dict[tuple, list[int]] = {}
    for proposal_id, changes in changed.items():
        groups.setdefault(tuple(sorted(changes.items())), []).append(proposal_id)
    for values, ids in groups.items():
        for start in range(0, len(ids), 1000):
            Proposal.update(**dict(values)).where(among(Proposal.id, ids[start:start + 1000])).execute()
    record_many("system:calendar", "response_due_recomputed", "proposal",
                {pid: {k: v.isoformat() for k, v in c.items()} for pid, c in changed.items()}, now=now)
    ids = list(changed)
    agencies: dict[str, object] = {}  # read once for all the chunks
    for start in range(0, len(ids), 500):
        _tell_corrected(list(Proposal.select().where(among(Proposal.id, ids[start:start + 500]))), now, agencies)


def _move_extensions(wanted: dict[int, tuple[dt.date, dt.date]]) -> None:
    """Each open extension follows its clock: (original_due, new_due) as recomputed, one UPDATE per value."""
    groups: dict[tuple[dt.date, dt.date], list[int]] = {}
    ids = list(wanted)
    for start in range(0, len(ids), 1000):
        query = Extension.select(Extension.id, Extension.proposal, Extension.original_due, Extension.new_due).where(
            Extension.proposal.in_(ids[start:start + 1000])).tuples()
        for extension_id, proposal_id, original_due, new_due in query:
            if wanted[proposal_id] != (original_due, new_due):
                groups.setdefault(wanted[proposal_id], []).append(extension_id)
    for (original_due, new_due), extension_ids in groups.items():
        Extension.update(original_due=original_due, new_due=new_due).where(Extension.id.in_(extension_ids)).execute()


def _tell_corrected(proposals: list[Proposal], now: dt.datetime, agencies: dict[str, object]) -> None:
    """Every agency holding each proposal hears the corrected last day (once per last day).
    `agencies` keeps the agencies read so far (code -> Agency or None), across the caller's chunks."""
    roles = responsible_by_proposal(proposals)
    base = public_base_url()
    mails = []
    for proposal in proposals:
        due = effective_due(proposal)
        for code in dict.fromkeys(roles[proposal.id][LEAD] + roles[proposal.id][CO]):
            agency = agencies[code] if code in agencies else agencies.setdefault(code, get_agency(code))
            fields = {"agency": agency.name if agency is not None else code, "number": proposal.number, "title": proposal.title,
                      "due": f"{due:%Y-%m-%d}", "console": f"工作臺：{base}/console/responses/{proposal.id}"}
            to = agency.contact_email if agency is not None and agency.contact_email else settings.OPS_NOTIFY_EMAIL
            mails.append((f"proposal:{proposal.id}:response-due-corrected:{due:%Y%m%d}:agency:{code}", to,
                          CORRECTED_SUBJECT.format(**fields), CORRECTED_BODY.format(**fields) + BODIES["footer"]))
    queue_mails(mails, now=now)
