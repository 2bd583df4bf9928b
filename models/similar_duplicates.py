"""The duplicates reviewers found by hand, checked against the similar-proposal search (R9.1.4, R9.2.3).

When the operations team returns a proposal as a duplicate of one in seconding (``duplicate_of`` of
`proposals.return_for_revision`), it has found by hand what the search was meant to show the
proposer.  Each such return is a real paraphrase pair, written by officials, not by a benchmark:
`recent` runs the search for the returned proposal (its title and content now, as the bot does before
submitting) and says whether the duplicate is among those the bot shows
(`similar.shown_before_submitting`), with the lexicon in use now.  The lexicon console lists them, so
the team sees which words to add (the trial panel checks the effect), and the share found is the
search's recall on the platform's own proposals.
"""
from __future__ import annotations

from dataclasses import dataclass

from .proposals import Proposal
from .similar import Match, read_title, shown_before_submitting
from .similar_lexicon import Reading

RECENT = 10  # returns checked on one page view (each check is one search: ~5-20 ms at 100,000 proposals)


@dataclass
class DuplicateCheck:
    proposal: Proposal  # the one returned as a duplicate
    duplicate: Proposal  # the one in seconding it repeats
    rank: int | None  # 1 to SHOWN when the bot would show the duplicate now, else None
    match: Match | None  # the duplicate as the search sees it (score, reasons)
    readings: tuple[Reading, Reading] | None = None  # a miss: what the search reads in each title


def returned_as_duplicates() -> int:
    return Proposal.select().where(Proposal.duplicate_of.is_null(False)).count()


def recent(limit: int = RECENT) -> list[DuplicateCheck]:
    """The latest `limit` returns for duplication, newest first, each searched again now."""
    rows = list(Proposal.select().where(Proposal.duplicate_of.is_null(False))
                .order_by(Proposal.returned_at.desc(nulls="LAST"), Proposal.id.desc()).limit(limit))
    originals = {p.id: p for p in Proposal.select().where(Proposal.id.in_({r.duplicate_of_id for r in rows}))}
    checks = []
    for proposal in rows:
        duplicate = originals.get(proposal.duplicate_of_id)
        if duplicate is None:  # deleted between the two reads (its deletion then clears duplicate_of)
            continue
        found = shown_before_submitting(proposal.title or "", proposal.content or "", exclude_id=proposal.id)
        rank = next((n for n, match in enumerate(found, 1) if match.proposal.id == duplicate.id), None)
        readings = None if rank else (read_title(proposal.title or ""), read_title(duplicate.title or ""))
        checks.append(DuplicateCheck(proposal, duplicate, rank, found[rank - 1] if rank else None, readings))
    return checks
