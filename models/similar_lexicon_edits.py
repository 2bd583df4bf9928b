"""The operations team extends the similar-proposal lexicon from the console (R9.1.4, issue 14).

A word joins an existing concept, or starts a new concept with its topic.  A word already in the
lexicon (the file's or the team's, compared as the search reads them) is refused, naming its concept,
so that no word means two concepts.  Each change, in one transaction: the row, the new lexicon version
in ``similar_meta`` (every process reloads at its next search, `similar_team_words.current`), every
proposal queued for analysis again (`similar_index.requeue_all`), and an audit row.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from . import similar_index as index
from . import similar_lexicon as lex
from .base import DomainError, db, is_postgres, utcnow
from .events import record
from .outbox import transaction
from .similar_team_words import TOPIC_MAX, WORD_MAX, SimilarTeamWord, effective, store_version
from .staff import Staff

_LETTERS = re.compile(f"[0-9a-z{lex.IDEOGRAPHS}]+")
_LOCK = 914_014  # pg_advisory_xact_lock key: one lexicon change at a time
NO_TOPIC_LABEL = "方向詞，無主題"

MSG = {
    "not_ops": "只有營運小組可以修改相似提案詞庫。",
    "empty": "請輸入{label}。",
    "too_long": "{label}最多 {max} 個字。",
    "letters": "{label}只能包含中文字、英文字母或數字（不可有空白或標點符號）。",
    "one_char": "{label}至少要兩個字：單一個字無法代表一個意思。",
    "fillers": "「{typed}」去掉口語贅字（一直、覺得、其實……）後不到兩個字，搜尋比對不到。",
    "taken": "「{typed}」已在詞庫中，屬於「{concept}」概念。",
    "taken_read_as": "「{typed}」在搜尋時讀作「{key}」，已在詞庫中，屬於「{concept}」概念。",
    "no_concept": "請選擇詞語所屬的概念，或選擇「新增概念」。",
    "unknown_concept": "詞庫中沒有「{concept}」概念，請從清單中選擇。",
    "concept_exists": "「{concept}」已是詞庫中的概念，請在概念清單中直接選擇它。",
    "concept_taken": "新概念的名稱「{typed}」已是「{concept}」概念的詞語，請改把詞語加入「{concept}」。",
    "no_topic": "新增概念時請填寫主題（例如：差勤、福利）。",
    "gone": "這個詞已不在詞庫中（可能已由其他同仁移除）。",
    "added": "已將「{word}」加入「{concept}」概念。所有提案將以新的詞庫重新分析（數分鐘內完成），可在下方試算確認。",
    "removed": "已移除「{word}」（原屬「{concept}」概念）。所有提案將以新的詞庫重新分析（數分鐘內完成）。",
}


def _checked(typed: str | None, label: str, longest: int, *, shortest: int = 2) -> tuple[str, str]:
    """(the text as typed, stripped; how the search reads it), or a DomainError saying what is wrong."""
    text = (typed or "").strip()
    if not text:
        raise DomainError(MSG["empty"].format(label=label), "empty")
    if len(text) > longest:
        raise DomainError(MSG["too_long"].format(label=label, max=longest), "too_long")
    if not _LETTERS.fullmatch(unicodedata.normalize("NFKC", text).lower()):
        raise DomainError(MSG["letters"].format(label=label), "letters")
    if len(text) < shortest:
        raise DomainError(MSG["one_char"].format(label=label), "one_char")
    key = lex.word_key(text)
    if len(key) < shortest:
        raise DomainError(MSG["fillers"].format(typed=text), "fillers")
    return text, key


def _refuse_taken(typed: str, key: str, lexicon: lex.Lexicon, message: str = "taken") -> None:
    concept = lexicon.words.get(key)
    if concept is None:
        return
    if message == "taken" and key != lex.normalize(typed).strip():
        message = "taken_read_as"
    raise DomainError(MSG[message].format(typed=typed, key=key, concept=concept), "taken")


def _lock() -> None:
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))


def _changed() -> None:
    """The lexicon changed: store its version (every process reloads) and analyse every proposal again."""
    store_version(effective().version)
    index.requeue_all()


@transaction
def add_word(staff: Staff, word: str | None, concept: str | None, *, new_concept: bool = False,
             topic: str | None = None, now: dt.datetime | None = None) -> str:
    """Add a word to an existing concept, or (`new_concept`) a new concept named `concept` with its
    `topic`; refused with a zh-TW reason when the input is not a usable word or is already in the
    lexicon.  Returns the message to show."""
    now = now or utcnow()
    if not staff.is_ops:
        raise DomainError(MSG["not_ops"], "forbidden")
    typed, key = _checked(word, "詞語", WORD_MAX)
    _lock()
    current = effective()
    _refuse_taken(typed, key, current)
    name = (concept or "").strip()
    if new_concept:
        name, name_key = _checked(name, "新概念的名稱", WORD_MAX)
        if name in current.topics:
            raise DomainError(MSG["concept_exists"].format(concept=name), "concept_exists")
        if name_key != key:
            _refuse_taken(name, name_key, current, "concept_taken")
        topic, _ = _checked(topic, "主題", TOPIC_MAX) if (topic or "").strip() else (None, None)
        if topic is None:
            raise DomainError(MSG["no_topic"], "no_topic")
    else:
        if not name:
            raise DomainError(MSG["no_concept"], "no_concept")
        if name not in current.topics:
            raise DomainError(MSG["unknown_concept"].format(concept=name), "unknown_concept")
        topic = None
    row = SimilarTeamWord.create(word=typed, concept=name, topic=topic, added_by=staff, added_at=now)
    _changed()
    record(staff.actor, "similar_word_added", "similar_team_word", row.id,
           detail={"word": typed, "concept": name, "topic": topic}, now=now)
    return MSG["added"].format(word=typed, concept=name)


@transaction
def remove_word(staff: Staff, word_id: int, *, now: dt.datetime | None = None) -> str:
    """Remove a word the team added (its row goes; a new concept's topic passes to its next word)."""
    now = now or utcnow()
    if not staff.is_ops:
        raise DomainError(MSG["not_ops"], "forbidden")
    _lock()
    row = SimilarTeamWord.get_or_none(SimilarTeamWord.id == word_id)
    if row is None:
        raise DomainError(MSG["gone"], "gone")
    if row.topic:
        heir = (SimilarTeamWord.select().where((SimilarTeamWord.concept == row.concept) & (SimilarTeamWord.id != row.id))
                .order_by(SimilarTeamWord.id).first())
        if heir is not None and not heir.topic:
            SimilarTeamWord.update(topic=row.topic).where(SimilarTeamWord.id == heir.id).execute()
    row.delete_instance()
    _changed()
    record(staff.actor, "similar_word_removed", "similar_team_word", row.id,
           detail={"word": row.word, "concept": row.concept, "topic": row.topic}, now=now)
    return MSG["removed"].format(word=row.word, concept=row.concept)


# --- what the console shows ----------------------------------------------------------------------

@dataclass
class ConceptRow:
    topic: str
    concept: str
    file_words: list[str] = field(default_factory=list)  # as written in data/similar_lexicon.tsv
    team_words: list[SimilarTeamWord] = field(default_factory=list)  # with .added_by (Staff) joined
    by_team: bool = False  # a concept the team created

    @property
    def topic_label(self) -> str:
        return NO_TOPIC_LABEL if self.topic == lex.NO_TOPIC else self.topic


def team_rows() -> list[SimilarTeamWord]:
    """The team's words with who added them, oldest first."""
    return list(SimilarTeamWord.select(SimilarTeamWord, Staff).join(Staff).order_by(SimilarTeamWord.id))


def concept_rows() -> list[ConceptRow]:
    """Every concept with its topic and its words, the file's and the team's told apart (file order,
    then the team's new concepts in the order they were added).  A team word the file has since taken
    (a later deploy) keeps its row but no longer counts: `.shadowed` names the file's concept."""
    rows: dict[str, ConceptRow] = {}
    for topic, concept, words in lex.file_entries():
        row = rows.setdefault(concept, ConceptRow(topic, concept))
        row.file_words += [w for w in words if w not in row.file_words]
    from_file = lex.parse_lexicon(lex.file_text())
    for word in team_rows():
        row = rows.get(word.concept)
        if row is None:
            row = rows[word.concept] = ConceptRow(word.topic or lex.NO_TOPIC, word.concept, by_team=True)
        elif row.by_team and word.topic:
            row.topic = word.topic
        word.shadowed = from_file.words.get(lex.word_key(word.word))
        row.team_words.append(word)
    return list(rows.values())


def matching(rows: list[ConceptRow], query: str | None) -> list[ConceptRow]:
    """The concepts whose topic, name or any word contains `query` (as the search reads text)."""
    needle = lex.normalize(query or "").strip()
    if not needle:
        return rows
    return [row for row in rows if any(needle in lex.normalize(text) for text in
                                       (row.topic, row.concept, *row.file_words, *(w.word for w in row.team_words)))]


def topics(rows: list[ConceptRow]) -> list[str]:
    """The topics in use, for the new-concept form."""
    return sorted({row.topic for row in rows if row.topic != lex.NO_TOPIC})
