"""Recognition in the chat (R11): the proposer of an adopted proposal agrees, or not, to be recommended.

Postback: `rec.consent&p=<proposal id>&v=yes|no` (sent by models.recognition.ask_consent). A later
tap replaces the earlier answer.
"""
from __future__ import annotations

from models.recognition import CONSENT_ACTION, MSG, answer_consent, answer_text

from .. import messages as m
from ..registry import action

NOT_ASKED = MSG["not_asked"]


@action(CONSENT_ACTION)
def consent(ctx, official, state, params):
    proposal_id = m.parse_int(params.get("p"), default=-1)
    if proposal_id < 0:
        return [m.text(NOT_ASKED, quick=[m.quick_postback("選單", "menu")])]
    value = params.get("v")
    if value not in ("yes", "no"):
        return [m.text(NOT_ASKED, quick=[m.quick_postback("選單", "menu")])]
    row = answer_consent(official, proposal_id, value == "yes", ctx.now)
    quick = [m.quick_postback("改為同意推薦", CONSENT_ACTION, p=proposal_id, v="yes") if value == "no"
             else m.quick_postback("改為不同意", CONSENT_ACTION, p=proposal_id, v="no"),
             m.quick_postback("選單", "menu")]
    return [m.text(answer_text(row), quick=quick)]
