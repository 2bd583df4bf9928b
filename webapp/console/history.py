"""Who did what, for the history tables of the console's detail pages."""
from __future__ import annotations

from models.agencies import get_agency
from models.events import AuditEvent
from models.officials import Official
from models.staff import Staff


def agency_label(code: str | None) -> str:
    agency = get_agency(code or "")
    return agency.name if agency else (code or "")


def actor_names(events: list[AuditEvent], *, proposer_id: int | None = None) -> dict[str, str]:
    """Each actor as people read it: staff by name and role, officials by display name only (never
    personal data, R3.0, R4), an agency answering by mail link, or the system."""
    names: dict[str, str] = {}
    staff_ids, official_ids = set(), set()
    for event in events:
        kind, _, ident = event.actor.partition(":")
        if kind == "staff" and ident.isdigit():
            staff_ids.add(int(ident))
        elif kind == "official" and ident.isdigit():
            official_ids.add(int(ident))
        elif kind == "system":
            names[event.actor] = "系統"
        elif kind == "agency":
            names[event.actor] = f"{agency_label(ident.split(':')[0])}（郵件連結）"
    for staff in Staff.select().where(Staff.id.in_(list(staff_ids))) if staff_ids else []:
        names[staff.actor] = f"{staff.name}（{staff.role_label}）"
    for official in Official.select().where(Official.id.in_(list(official_ids))) if official_ids else []:
        role = "提案人" if official.id == proposer_id else "公務人員"
        names[official.actor] = f"{official.display_name}（{role}）"
    return names
