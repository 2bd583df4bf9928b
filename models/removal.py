"""Removal at any time (R7.1–R7.7): any published proposal, lapsed and responded included.

Content that becomes unlawful later, a state secret noticed late or a case brought to court can
come up long after review, so the operations team may remove a proposal in any published state.
`proposals.remove` records the ground and reason and tells the proposer; this adds the responsible
agencies, who may hold a confirmation request, a notice or a published response on it. The public
page and the open data then keep the record (number, dates, counts, ground) without its content.
"""
from __future__ import annotations

import datetime as dt

from . import settings
from .agencies import get_agency
from .base import utcnow
from .notify import mail_agency
from .outbox import queue_mail, transaction
from .proposals import Proposal, lock, removal_ground_label, remove
from .seconds import responsible_agency_codes

MSG = {
    "agency_subject": "【政策參與平臺】提案已移除，無須再辦理：提案{number}",
    "agency_body": ("{agency} 承辦同仁您好：\n\n"
                    "公務人員政策參與平臺的提案{number}「{title}」已由營運小組依作業規範第七點移除。\n"
                    "事由：{ground}\n說明：{reason}\n\n"
                    "平臺上僅保留移除紀錄及事由，貴機關無須再確認權責、回應或辦理延長。\n"
                    "\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"),
    "no_contact_subject": "【政策參與平臺】移除通知無法寄送給機關：提案{number}",
    "no_contact_body": "提案{number}已移除（{ground}），但權責機關「{agency}」沒有聯絡信箱，請營運小組轉知。",
}


@transaction
def remove_published(proposal_id: int, actor: str, ground: str, reason: str, now: dt.datetime | None = None, *,
                     expected_version: int | None = None) -> Proposal:
    """R7: remove on a ground with a reason, in any state; the proposer and the responsible agencies are told.

    Agencies are told once the proposal has passed review (before that no agency was involved).
    """
    now = now or utcnow()
    was_published = lock(proposal_id).seconding_started_at is not None
    proposal = remove(proposal_id, actor, ground, reason, now, expected_version=expected_version)
    if was_published:
        _tell_agencies(proposal, now)
    return proposal


def _tell_agencies(proposal: Proposal, now: dt.datetime) -> None:
    fields = {"number": proposal.number, "title": proposal.title, "ground": removal_ground_label(proposal.removal_ground),
              "reason": proposal.removal_reason}
    for code in responsible_agency_codes(proposal):
        agency = get_agency(code)
        name = agency.name if agency else code
        key = f"proposal:{proposal.id}:removed:agency:{code}"
        if agency is not None and agency.contact_email:
            mail_agency(agency, MSG["agency_subject"].format(**fields),
                       MSG["agency_body"].format(agency=name, **fields), dedupe_key=key, now=now)
        else:  # never lose a notice silently: the team passes it on
            queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["no_contact_subject"].format(**fields),
                       MSG["no_contact_body"].format(agency=name, **fields), dedupe_key=key, now=now)

