"""The words the operations team adds to the similar-proposal lexicon in the console (R9.1.4), and how
every process comes to use them without a restart.

The effective lexicon is data/similar_lexicon.tsv plus the ``similar_team_word`` rows
(`similar_lexicon.parse_lexicon`).  Its version (a hash of both) is stored in ``similar_meta`` under
``lexicon``, the key `similar_index.ensure_search_index` already keeps for the stored features; a
change of the team's words writes the new version in its own transaction.  Each search first reads
that one row (`current`): when it differs from what this process loaded, the process reads the file
and the rows again.  So a web or worker process follows a change at its next search, and never
rereads anything while nothing changed.
"""
from __future__ import annotations

import peewee

from . import similar_lexicon as lex
from .base import BaseModel, db, row_by, utcnow
from .staff import Staff

META_KEY = "lexicon"
WORD_MAX = 20  # characters of a word, a concept's name (as typed)
TOPIC_MAX = 10


class SimilarMeta(BaseModel):
    """``similar_meta``: key-value facts of the similar-proposal search (the lexicon version)."""

    key = peewee.TextField(primary_key=True)
    value = peewee.TextField()

    class Meta:
        table_name = "similar_meta"


class SimilarTeamWord(BaseModel):
    """A word the operations team added: to an existing concept (no topic), or the first word of a new
    concept, which carries the concept's topic."""

    word = peewee.CharField(max_length=WORD_MAX * 2, unique=True)  # as typed (NFKC may widen a little)
    concept = peewee.CharField(max_length=WORD_MAX * 2, index=True)
    topic = peewee.CharField(max_length=TOPIC_MAX * 2, null=True)
    added_by = peewee.ForeignKeyField(Staff, backref="similar_words", on_delete="RESTRICT")
    added_at = peewee.DateTimeField(default=utcnow)

    @property
    def entry(self) -> lex.TeamWord:
        return lex.TeamWord(self.word, self.concept, self.topic)


# What this process loaded: (database, the stored version it answered to); None before the first search.
_loaded: tuple[object, str | None] | None = None


def team_entries() -> list[lex.TeamWord]:
    """Every team word, oldest first (the order the lexicon reads them in)."""
    rows = (SimilarTeamWord.select(SimilarTeamWord.word, SimilarTeamWord.concept, SimilarTeamWord.topic)
            .order_by(SimilarTeamWord.id).tuples())
    return [lex.TeamWord(word, concept, topic) for word, concept, topic in rows]


def effective() -> lex.Lexicon:
    """The file and the team's words as the database holds them now (not installed)."""
    return lex.parse_lexicon(lex.file_text(), tuple(team_entries()))


def stored_version() -> str | None:
    """The lexicon's version in `similar_meta`: read by every search (a kept statement, one row)."""
    row = row_by(SimilarMeta.key, META_KEY)
    return row.value if row else None


def store_version(version: str) -> None:
    (SimilarMeta.insert(key=META_KEY, value=version)
     .on_conflict(conflict_target=[SimilarMeta.key], update={SimilarMeta.value: version}).execute())


def load(stored: str | None = None) -> lex.Lexicon:
    """Read the file and the team's words, and use them in this process from now on; `stored` is the
    version in ``similar_meta`` this load answers to."""
    global _loaded
    installed = lex.install(team_entries())
    _loaded = (db.obj, stored)
    return installed


def current() -> lex.Lexicon:
    """The lexicon every search uses: one primary-key read, and a reload when another process (or
    this one) changed the team's words since this process loaded them."""
    stored = stored_version()
    if _loaded != (db.obj, stored):
        return load(stored)
    return lex.lexicon()
