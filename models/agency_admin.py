"""Agencies edited in the console (issue 11 item 4): fields, the contact addresses, and proof that
someone reads them. An agency has a main contact address and any number of others; every notice
goes to all of them (`Agency.contact_emails`, `models.notify.mail_agency`). Edits are recorded and
take effect at once for future notices. A test email goes to each address with a signed link
scoped to it; clicking it marks that address confirmed. The agency counts as confirmed when every
current address is. An address changed later is unconfirmed again until tested.
"""
from __future__ import annotations

import datetime as dt

from itsdangerous import BadSignature, URLSafeSerializer

from . import services
from .agencies import EMAIL_RE, Agency, _clean_row, get_agency
from .base import DomainError, format_taipei
from .events import record
from .outbox import Outbox, queue_mail, transaction
from .settings import AGENCY_CONTACT_LINK_TTL
from .staff import Staff, _require_ops, clean_reason

MSG = {
    "not_found": "找不到這個機關。",
    "parent_unknown": "上級機關代碼「{code}」不存在。",
    "parent_self": "機關不能是自己的上級機關。",
    "parent_cycle": "「{code}」是這個機關的下級機關，不能設為上級機關（會形成循環）。",
    "duplicate_email": "這個聯絡信箱已是「{name}」的信箱；每個信箱只屬於一個機關。",
    "duplicate_here": "聯絡信箱 {email} 重複填寫了；每個信箱只需填一次。",
    "bad_extra": "其他聯絡信箱「{value}」格式不正確，請每行填一個電子郵件。",
    "extra_without_main": "請先填寫主要聯絡信箱，再填其他聯絡信箱。",
    "too_many": "其他聯絡信箱最多 {n} 個。",
    "no_email": "這個機關還沒有聯絡信箱，請先填寫。",
    "bad_link": "這個確認連結無效（可能不完整或遭修改）。",
    "expired_link": "這個確認連結已於 {until} 過期，請營運小組重新寄送測試信。",
    "changed": "這個信箱已不是該機關目前的聯絡信箱，不需要確認。",
    "unchanged": "內容沒有變更。",
}
FIELD_LABELS = {"name": "名稱", "short_name": "簡稱", "kind": "類別", "parent_code": "上級機關", "active": "啟用",
                "contact_email": "聯絡信箱", "extra_contact_emails": "其他聯絡信箱"}
MAX_EXTRA = 10

TEST_SUBJECT = "臺中市政府公務人員政策參與平臺：機關聯絡信箱測試"
TEST_BODY = """{name} 您好：

這是「臺中市政府公務人員政策參與平臺」寄給貴機關聯絡信箱的測試信。平臺會以這個信箱寄送提案權責確認（第九點（二）5）、
成案通知（第九點（三）3）與回應期限提醒。

請於 {until}（臺北時間）前開啟下列連結，確認這個信箱有人收信：
{link}

如有疑問請洽營運小組（研考會）。
"""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(services.secret_key(), salt="agency-contact")


def _agency(code: str) -> Agency:
    agency = get_agency(code)
    if agency is None:
        raise DomainError(MSG["not_found"], "not_found")
    return agency


def _check_parent(agency: Agency, parent: str | None) -> None:
    if not parent:
        return
    if parent == agency.code:
        raise DomainError(MSG["parent_self"], "self_parent")
    if get_agency(parent) is None:
        raise DomainError(MSG["parent_unknown"].format(code=parent), "unknown_parent")
    seen, current = set(), parent
    while current and current not in seen:  # walking up from the new parent must not reach this agency
        seen.add(current)
        row = Agency.get_or_none(Agency.code == current)
        current = row.parent_code if row else None
        if current == agency.code:
            raise DomainError(MSG["parent_cycle"].format(code=parent), "parent_cycle")


@transaction
def update_agency(actor: Staff, code: str, fields: dict, reason: str, now: dt.datetime) -> Agency:
    """Change an agency's name, short name, kind, parent, active flag or contact address. Ops only, recorded."""
    _require_ops(actor)
    reason = clean_reason(reason)
    agency = _agency(code)
    if str(fields.get("parent_code") or "").strip().upper() == agency.code:
        raise DomainError(MSG["parent_self"], "self_parent")
    values, error = _clean_row("表單", {**fields, "code": agency.code})
    if error:
        raise DomainError(error.replace("，已略過。", "。").replace("表單：", ""), "bad_field")
    _check_parent(agency, values["parent_code"])
    if "extra_contact_emails" in fields:  # a form without the field leaves the other addresses as they are
        extras = _clean_extras(fields.get("extra_contact_emails"), values["contact_email"])
        values["extra_contact_emails"] = "\n".join(extras) or None
    else:
        extras = [e for e in agency.contact_emails[1:] if e != values["contact_email"]]
    for email in [values["contact_email"], *extras]:
        if email:
            _check_unique(agency, email)
    changes = {name: [getattr(agency, name), values[name]] for name in FIELD_LABELS
               if name in values and getattr(agency, name) != values[name]}
    if not changes:
        raise DomainError(MSG["unchanged"], "unchanged")
    Agency.update(**{name: new for name, (_, new) in changes.items()}, updated_at=now).where(
        Agency.id == agency.id).execute()
    record(actor.actor, "agency_updated", "agency", agency.id, reason=reason, detail=changes, now=now)
    return Agency.get_by_id(agency.id)


def _clean_extras(text: str | None, main: str | None) -> list[str]:
    """The other contact addresses (one a line, or separated by commas), normalised, each once."""
    extras: list[str] = []
    for value in (text or "").replace(",", "\n").replace("，", "\n").split():
        if len(value) > 254 or not EMAIL_RE.match(value):
            raise DomainError(MSG["bad_extra"].format(value=value[:80]), "bad_field")
        local, _, domain = value.rpartition("@")
        email = f"{local}@{domain.lower()}"
        if email == main or email in extras:
            raise DomainError(MSG["duplicate_here"].format(email=email), "duplicate_email")
        extras.append(email)
    if extras and not main:
        raise DomainError(MSG["extra_without_main"], "bad_field")
    if len(extras) > MAX_EXTRA:
        raise DomainError(MSG["too_many"].format(n=MAX_EXTRA), "bad_field")
    return extras


def _check_unique(agency: Agency, email: str) -> None:
    """One address belongs to one agency (as its main or another contact address)."""
    for other in Agency.select().where((Agency.code != agency.code) & ((Agency.contact_email == email)
                                                                        | Agency.extra_contact_emails.contains(email))):
        if email in other.contact_emails:
            raise DomainError(MSG["duplicate_email"].format(name=other.name), "duplicate_email")


def contact_token(agency: Agency, now: dt.datetime, email: str | None = None) -> str:
    return _serializer().dumps([agency.code, email or agency.contact_email, int(now.timestamp())])


@transaction
def send_test_email(actor: Staff, code: str, now: dt.datetime) -> Outbox:
    """A test email to each of the agency's contact addresses, each with a signed link confirming that
    address. Ops only, recorded. Returns the main address's row."""
    _require_ops(actor)
    agency = _agency(code)
    if not agency.contact_email:
        raise DomainError(MSG["no_email"], "no_email")
    rows = []
    for email in agency.contact_emails:
        link = f"{services.current().public_base_url}/console/agencies/confirm/{contact_token(agency, now, email)}"
        body = TEST_BODY.format(name=agency.name, until=format_taipei(now + AGENCY_CONTACT_LINK_TTL), link=link)
        rows.append(queue_mail(email, TEST_SUBJECT, body,
                               dedupe_key=f"agency-test:{agency.code}:{now.isoformat()}:{len(rows)}", now=now))
    record(actor.actor, "agency_test_email", "agency", agency.id,
           detail={"emails": agency.contact_emails, "outbox": [r.id for r in rows if r]}, now=now)
    return rows[0]


def last_test_email(agency: Agency) -> Outbox | None:
    """The latest test email to this agency (its status is the delivery result shown)."""
    return (Outbox.select().where(Outbox.dedupe_key.startswith(f"agency-test:{agency.code}:"))
            .order_by(Outbox.id.desc()).first())


def last_test_emails(agency: Agency) -> list[Outbox]:
    """The latest sending of test emails: one row per address it went to."""
    latest = last_test_email(agency)
    if latest is None:
        return []
    return list(Outbox.select().where(Outbox.dedupe_key.startswith(f"agency-test:{agency.code}:")
                                      & (Outbox.created_at == latest.created_at)).order_by(Outbox.id))


@transaction
def confirm_contact(token: str, now: dt.datetime) -> Agency:
    """Someone clicked the test email's link: the address it was sent to is confirmed, if still current."""
    try:
        code, email, issued = _serializer().loads(token)
        issued_at = dt.datetime.fromtimestamp(int(issued), dt.UTC).replace(tzinfo=None)
    except (BadSignature, TypeError, ValueError):
        raise DomainError(MSG["bad_link"], "bad_link") from None
    if now >= issued_at + AGENCY_CONTACT_LINK_TTL:
        raise DomainError(MSG["expired_link"].format(until=format_taipei(issued_at + AGENCY_CONTACT_LINK_TTL)),
                          "expired_link")
    agency = _agency(code)
    if email not in agency.contact_emails:
        raise DomainError(MSG["changed"], "changed")
    if email not in agency.confirmed_emails:
        if email == agency.contact_email:
            changes = {"contact_confirmed_email": email, "contact_confirmed_at": now}
        else:
            kept = [e for e in (agency.extra_confirmed_emails or "").split() if e in agency.contact_emails]
            changes = {"extra_confirmed_emails": "\n".join([*kept, email])}
        Agency.update(**changes).where(Agency.id == agency.id).execute()
        record(f"email:{agency.code}", "agency_contact_confirmed", "agency", agency.id, detail={"email": email}, now=now)
    confirmed = Agency.get_by_id(agency.id)
    confirmed.confirmed_address = email  # what the page thanks for
    return confirmed


def unconfirmed_agencies() -> list[Agency]:
    """Active agencies whose current contact address was never confirmed (or that have none)."""
    return [a for a in Agency.select().where(Agency.active == True).order_by(Agency.code)  # noqa: E712
            if not a.contact_confirmed]


def agencies_for_console() -> list[tuple[Agency, list[str]]]:
    """Every agency with its subordinates' codes, by kind then code."""
    agencies = list(Agency.select().order_by(Agency.kind, Agency.code))
    children: dict[str, list[str]] = {}
    for agency in agencies:
        if agency.parent_code:
            children.setdefault(agency.parent_code, []).append(agency.code)
    return [(agency, children.get(agency.code, [])) for agency in agencies]


