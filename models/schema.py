"""The schema: every table of the domain, in an order that satisfies foreign keys.

The bot's own conversation table is not the domain's: the app factory adds it (`extra`).
"""
from __future__ import annotations

from collections.abc import Sequence

from .agencies import Agency
from .agency_assignments import AgencyAssignment
from .agency_discussion import DiscussionNote
from .base import BaseModel, db, is_postgres
from .calendar import CalendarOverride
from .calendar_years import CalendarYear
from .consultation_discussion import DiscussionMeeting, DiscussionMessage
from .consultations import Consultation, Opinion
from .events import AuditEvent, InboundMail, LineEvent
from .login_failures import LoginFailure
from .migrations import apply_upgrades
from .officials import Official
from .operations import Heartbeat, SweepRun
from .outbox import Outbox
from .proposals import CoProposer, Proposal
from .recognition import RecognitionConsent
from .recommendations import Recommendation
from .responses import AgencyResponse, Extension, Meeting, ResponseMerge
from .seconds import Second, SecondRequest
from .similar import ensure_search_index
from .similar_team_words import SimilarMeta, SimilarTeamWord
from .staff import PersonalDataAccess, Staff
from .staff_accounts import StaffToken
from .staff_sessions import StaffSession
from .two_factor import RecoveryCode
from .verification import VerificationCode

TABLES: list[type[BaseModel]] = [
    Agency,
    CalendarOverride, CalendarYear,
    Official,
    VerificationCode,
    Outbox,
    LineEvent, InboundMail, AuditEvent,
    Staff, PersonalDataAccess, StaffSession, StaffToken, RecoveryCode, LoginFailure,
    Proposal, CoProposer,
    AgencyAssignment, DiscussionNote,
    Second, SecondRequest,
    AgencyResponse, Extension, Meeting, ResponseMerge,
    RecognitionConsent, Recommendation,
    Consultation, Opinion, DiscussionMessage, DiscussionMeeting,
    Heartbeat, SweepRun,
    SimilarMeta, SimilarTeamWord,  # R9.1.4: the lexicon version, the operations team's lexicon words
]


def all_models(extra: Sequence[type[BaseModel]] = ()) -> list[type[BaseModel]]:
    """Every table (the domain's, then `extra`)."""
    return [*TABLES, *extra]


def create_tables(extra: Sequence[type[BaseModel]] = ()) -> None:
    """Create every missing table and index (idempotent), then apply in-place upgrades."""
    if is_postgres():
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    db.create_tables(all_models(extra), safe=True)
    apply_upgrades()
    ensure_search_index()  # PostgreSQL: the similar-proposal key column and its GIN index (R9.1.4)
