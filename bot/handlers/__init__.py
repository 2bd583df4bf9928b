"""The conversation's flows, one module each; importing them registers their actions (`bot.registry`)."""
from __future__ import annotations

from . import (  # noqa: F401 - each flow registers its postback actions and text steps
    codes,  # the answer to a typed code (registration R3.2, seconding R9.3.4)
    consulting,  # R10 policy consultations: read, give an opinion
    discarding,  # R9.1 discarding a draft, or starting over
    menu,  # welcome, the main menu, help
    my_proposals,  # 我的提案: withdraw, revise, co-proposer answers
    my_seconds,  # 我的附議: what one seconded and how it ended
    profile,  # 我的資料 (R3, R4)
    proposing,  # R9.1 composing and submitting a proposal
    recognition,  # R11 consent to recognition
    registration,  # R3 registration and email verification
    seconding,  # R9.3 browsing and seconding
    terms,  # R4 terms of use and privacy notice, accepted once
)
