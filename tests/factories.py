"""Rows for tests that start mid-way (a verified official, a proposal in a given state)."""
from __future__ import annotations

import itertools
import uuid

from models import settings
from models.base import utcnow
from models.officials import Official
from models.proposals import Proposal, pass_review, set_field, start_draft
from models.submission import submit

_seq = itertools.count(1)


def verified_official(email: str | None = None, nickname: str | None = None, **fields) -> Official:
    n = next(_seq)
    values = dict(line_user_id="U" + uuid.uuid4().hex, status="verified", real_name=f"測試員{n}",
                  nickname=nickname or f"暱稱{n}", display_choice="nickname", phone="0912-345-678",
                  email=email or f"official{n}-{uuid.uuid4().hex[:6]}@taichung.gov.tw",
                  address="臺中市西屯區臺灣大道三段99號", agency_code="RDEC",
                  terms_version=settings.TERMS_VERSION, terms_accepted_at=utcnow())  # R4: the terms accepted
    values.update(fields)
    values.setdefault("verified_email", values["email"])
    return Official.create(**values)


def submitted_proposal(official: Official | None = None, *, title: str = "推動公文線上簽核全面無紙化",
                       agency: str = "RDEC", now=None) -> Proposal:
    official = official or verified_official()
    draft = start_draft(official, now=now)
    set_field(official, draft.id, "scope", "internal", now=now)
    set_field(official, draft.id, "title", title, now=now)
    set_field(official, draft.id, "content", "建議各機關公文全面採用線上簽核，減少紙張與傳遞時間。", now=now)
    set_field(official, draft.id, "benefits", "節省紙張與人力，縮短公文處理時間。", now=now)
    set_field(official, draft.id, "evidence", "https://example.gov.tw/report", now=now)
    set_field(official, draft.id, "agency_code", agency, now=now)
    return submit(official, draft.id, now=now)


def seconding_proposal(official: Official | None = None, *, now=None, **kwargs) -> Proposal:
    proposal = submitted_proposal(official, now=now, **kwargs)
    return pass_review(proposal.id, "staff:test", now=now, base_url="http://localhost")


def reload(proposal: Proposal) -> Proposal:
    return Proposal.get_by_id(proposal.id)
