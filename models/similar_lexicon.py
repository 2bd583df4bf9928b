"""What a proposal's text means to the similar-proposal search (R9.1.4): normalisation, the concept
lexicon, features and the score.  No database access here; `models.similar` searches with it.

Features of a text (`analyse`):

1. normalised: full-width punctuation to spaces, NFKC, lower case, variant and simplified characters
   folded to the Taiwan form (台→臺, 务→務 ...), a few equivalent phrases folded (公務員→公務人員 ...),
   colloquial fillers removed (`FILLERS`: 根本, 一直, 覺得 ...; 人根本不夠 reads 人不夠);
2. **concepts**: every word of the lexicon (data/similar_lexicon.tsv, plus the words the operations
   team adds in the console, `models.similar_team_words`) is found, longest first, and stands for its
   concept: 國旅卡, 休假補助 and 國民旅遊卡 all give ``#國民旅遊卡``; 超勤津貼 and 加班費 give ``#加班費``.
   Each concept also gives its topic, ``~差勤``.  A word of the lexicon is taken out of the text once
   matched;
3. **the rest**: proposal boilerplate and particles dropped (建議, 推動, 的, 之 ...), then each
   bigram of each run of ideographs (a lone ideograph stands for itself) and each ASCII word.

Score (`similarity`): cosine of the two feature sets, each feature weighted by its rarity (idf, from
the database's statistics) and by its kind: a concept counts `CONCEPT_WEIGHT`, a topic only
`TOPIC_WEIGHT` (a shared topic alone never reaches the display threshold), and features found only
in the content count `CONTENT_WEIGHT` (the title says what is asked for).

The lexicon in use is `lexicon()`: the file alone until `install` replaces it with the file and the
team's words (the database layer decides when; this module reads no database, so that bench/ can load
it without the models package).
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import unicodedata
from dataclasses import dataclass

LEXICON_PATH = os.environ.get(
    "SIMILAR_LEXICON", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                                    "similar_lexicon.tsv"))
CODE_VERSION = 8  # bump whenever `analyse` changes: every stored feature set is rebuilt
TITLE_CHARS = 200  # longer titles are cut (the form allows 80)
CONTENT_CHARS = 600  # content prefix read (long texts add cost, little signal)
CONCEPT_WEIGHT = 2.0
TOPIC_WEIGHT = 0.35
CONTENT_WEIGHT = 0.75
UNSHARED_CONTENT = 0.15  # share of the norm kept for content features the other side lacks

# Variant and simplified characters → the form used in Taiwan official documents (1:1 characters).
VARIANTS = {
    "台": "臺", "裏": "裡", "着": "著", "爲": "為", "衞": "衛", "綫": "線", "峯": "峰", "羣": "群",
    "麪": "麵", "污": "汙", "衆": "眾", "啓": "啟", "敎": "教", "册": "冊", "綑": "捆", "鷄": "雞",
    "务": "務", "员": "員", "议": "議", "动": "動", "设": "設", "实": "實", "门": "門", "关": "關",
    "体": "體", "国": "國", "学": "學", "车": "車", "时": "時", "发": "發", "会": "會", "为": "為",
    "与": "與", "这": "這", "个": "個", "们": "們", "来": "來", "对": "對", "业": "業", "电": "電",
    "网": "網", "报": "報", "办": "辦", "劳": "勞", "护": "護", "环": "環", "费": "費", "资": "資",
    "补": "補", "弹": "彈", "应": "應", "请": "請", "简": "簡", "审": "審", "购": "購", "经": "經",
    "统": "統", "数": "數", "处": "處", "区": "區", "县": "縣", "长": "長", "开": "開", "进": "進",
    "现": "現", "线": "線", "训": "訓", "练": "練", "养": "養", "医": "醫", "疗": "療", "卫": "衛",
    "计": "計", "问": "問", "题": "題", "间": "間", "边": "邊", "园": "園", "场": "場", "营": "營",
    "条": "條", "项": "項", "讯": "訊", "号": "號", "气": "氣", "节": "節", "减": "減", "废": "廢",
    "权": "權", "职": "職", "级": "級", "绩": "績", "检": "檢", "单": "單", "轻": "輕", "负": "負",
    "担": "擔", "书": "書", "纸": "紙", "签": "簽", "档": "檔", "归": "歸", "习": "習", "态": "態",
    "递": "遞", "灵": "靈", "观": "觀", "调": "調", "极": "極", "于": "於",
}
# Equivalent phrases, applied in this order after VARIANTS and before the lexicon.
PHRASES = [
    ("公務員", "公務人員"), ("上下班", "上班"), ("電子化", "數位化"), ("網絡", "網路"), ("線上", "網路"),
    ("員工", "同仁"), ("職員", "同仁"), ("臺中市政府", "市政府"), ("市府", "市政府"), ("本府", "市政府"),
]
# Boilerplate and particles, removed from what the lexicon left (in this order).
STOP_PHRASES = [
    "啊", "吧", "呢", "啦", "喔", "耶", "嘛",
    "建議", "建請", "擬請", "希望", "推動", "實施", "辦理", "研議", "研擬", "提案", "關於", "有關", "應該",
    "是否", "能否", "可否", "進行", "相關", "儘速", "盡速", "可以", "請", "的", "之", "及", "與", "和", "並",
    "或", "了", "等", "嗎", "都", "很", "也", "就", "要",
    "市政府", "公務人員", "同仁",  # every proposal is about the city's staff: these say nothing
    "制度", "機制", "措施", "方案",
]
# Colloquial fillers, removed before the lexicon is matched, joining their neighbours: 人根本不夠 → 人不夠
# (longest first: 可不可以 before 可以).
FILLERS = [
    "可不可以", "能不能", "是不是", "為什麼", "怎麼", "什麼", "沒辦法", "根本", "真的", "一直", "常常", "每次",
    "總是", "好像", "覺得", "感覺", "實在", "非常", "超級", "有點", "一點", "這樣", "那樣", "大家", "我們",
    "他們", "現在", "其實", "還是", "已經", "一下", "每天", "天天", "到底", "完全", "因為", "所以", "但是",
    "可是", "而且", "然後", "如果", "就是", "這個", "那個", "一些",
]
_VARIANT_TABLE = str.maketrans(VARIANTS)
_VARIANT_RE = re.compile("[" + "".join(VARIANTS) + "]")
IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"  # CJK ideographs (and extensions)
_TOKEN_RE = re.compile(f"[0-9a-z]+|[{IDEOGRAPHS}]+")
_PUNCT_RE = re.compile("[\u3000-\u3003\u3008-\u3011\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")
NO_TOPIC = "-"  # direction words (提高, 簡化 ...) have no topic
SEPARATOR = "\u0000"  # replaces a matched lexicon word: not a token character


def normalize(text: str | None) -> str:
    """NFKC, lower case, variant characters and equivalent phrases folded (no words removed)."""
    value = _PUNCT_RE.sub(" ", text or "")
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    value = value.lower()
    if _VARIANT_RE.search(value):
        value = value.translate(_VARIANT_TABLE)
    for old, new in PHRASES:
        if old in value:
            value = value.replace(old, new)
    return value


def _unfilled(text: str) -> str:
    """`normalize`d text without the colloquial FILLERS."""
    for word in FILLERS:
        if word in text:
            text = text.replace(word, "")
    return text


@dataclass(frozen=True, eq=False)
class Lexicon:
    words: dict[str, str]  # normalised word -> concept
    topics: dict[str, str]  # concept -> topic
    longest: int
    first_chars: frozenset[str]
    version: str  # changes whenever the file, the team's words or CODE_VERSION do


@dataclass(frozen=True)
class TeamWord:
    """A word the operations team added in the console: to an existing concept (topic None), or as
    the first word of a new concept with its topic."""

    word: str
    concept: str
    topic: str | None = None


def word_key(word: str) -> str:
    """How the lexicon stores a word: `normalize`d, without the colloquial FILLERS (the text it is
    matched in has lost them already)."""
    return _unfilled(normalize(word)).strip()


def parse_lexicon(text: str, team: tuple[TeamWord, ...] | list[TeamWord] = ()) -> Lexicon:
    """Lexicon from the TSV text (topic, concept, words separated by 、; '#' lines are comments), then
    the team's words.  A word already listed keeps its first concept; a team concept's name is one of
    its words, as a concept's name is in the file."""
    words: dict[str, str] = {}
    topics: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"similar lexicon: expected topic<TAB>concept<TAB>words: {line!r}")
        topic, concept, listed = (part.strip() for part in parts)
        topics[concept] = topic
        for word in [concept, *listed.split("、")]:
            key = normalize(word).strip()
            if len(key) >= 2:
                words.setdefault(key, concept)
    for entry in team:
        if entry.topic:
            topics.setdefault(entry.concept, entry.topic)
    for entry in team:
        topics.setdefault(entry.concept, NO_TOPIC)  # a team concept whose topic row is gone: no topic
        for word in (entry.concept, entry.word):
            key = word_key(word)
            if len(key) >= 2:
                words.setdefault(key, entry.concept)
    source = f"{CODE_VERSION}\n{text}" + "".join(f"\n+{e.word}\t{e.concept}\t{e.topic or ''}" for e in team)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return Lexicon(words, topics, max(map(len, words), default=0), frozenset(w[0] for w in words), digest)


@functools.lru_cache(maxsize=1)
def file_text() -> str:
    """The lexicon file as shipped (read once per process: it changes only with a deploy)."""
    with open(LEXICON_PATH, encoding="utf-8") as handle:
        return handle.read()


def file_entries() -> list[tuple[str, str, list[str]]]:
    """(topic, concept, words as written) of each line of the file, in its order."""
    entries = []
    for line in file_text().splitlines():
        if line.strip() and not line.startswith("#"):
            topic, concept, listed = (part.strip() for part in line.split("\t"))
            entries.append((topic, concept, [w.strip() for w in listed.split("、") if w.strip()]))
    return entries


_active: Lexicon | None = None


def lexicon() -> Lexicon:
    """The lexicon in use: the last one `install`ed, else the file alone."""
    global _active
    if _active is None:
        _active = parse_lexicon(file_text())
    return _active


def install(team: tuple[TeamWord, ...] | list[TeamWord]) -> Lexicon:
    """Use the file and these team words from now on (analyses are cached per lexicon, so none made
    with the previous one is reused)."""
    global _active
    _active = parse_lexicon(file_text(), tuple(team))
    return _active


def reload() -> None:
    """Forget the loaded lexicon and every analysed text (after the file changed)."""
    global _active
    _active = None
    file_text.cache_clear()
    _analysed.cache_clear()


@dataclass(frozen=True)
class Analysis:
    features: frozenset[str]
    runs: tuple[str, ...]  # what the lexicon left, after stop words: runs of ideographs and ASCII words


def _match(text: str, lex: Lexicon, found: list[str] | None = None) -> tuple[list[str], str]:
    """(concepts found, text with each matched word replaced by SEPARATOR), longest word first; each
    matched word is appended to `found` when given."""
    concepts: list[str] = []
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in lex.first_chars:
            for length in range(min(lex.longest, n - i), 1, -1):
                concept = lex.words.get(text[i:i + length])
                if concept is not None:
                    concepts.append(concept)
                    if found is not None:
                        found.append(text[i:i + length])
                    out.append(SEPARATOR)
                    i += length
                    break
            else:
                out.append(text[i])
                i += 1
        else:
            out.append(text[i])
            i += 1
    return concepts, "".join(out)


def _without_stop_phrases(rest: str) -> str:
    for word in STOP_PHRASES:
        if word in rest:
            rest = rest.replace(word, " ")
    return rest


def analyse(text: str | None) -> Analysis:
    """The features of one text (concepts, their topics, bigrams and ASCII words of the rest)."""
    return _analysed(text, lexicon())


@functools.lru_cache(maxsize=4096)
def _analysed(text: str | None, lex: Lexicon) -> Analysis:
    concepts, rest = _match(_unfilled(normalize(text)), lex)
    rest = _without_stop_phrases(rest)
    features: set[str] = set()
    for concept in concepts:
        features.add("#" + concept)
        if lex.topics[concept] != NO_TOPIC:
            features.add("~" + lex.topics[concept])
    runs = tuple(_TOKEN_RE.findall(rest))
    lone = []
    for word in runs:
        if word[0] < "\u0080":
            features.add(word)
        elif len(word) == 1:
            lone.append(word)  # a character left between matched words: noise, unless it is all there is
        else:
            features.update(word[i:i + 2] for i in range(len(word) - 1))
    if not features:
        features.update(lone)
    return Analysis(frozenset(features), runs)


@dataclass(frozen=True)
class Reading:
    """What the search reads in a title, for people (the console's trial panel)."""

    concepts: tuple[tuple[str, str, str], ...]  # (word as matched, its concept, the concept's topic)
    rest: tuple[str, ...]  # what the lexicon left, after stop words


def read(text: str | None) -> Reading:
    """The words of the lexicon found in `text` (as `analyse` finds them) and what is left."""
    lex = lexicon()
    found: list[str] = []
    concepts, rest = _match(_unfilled(normalize((text or "")[:TITLE_CHARS])), lex, found)
    return Reading(tuple((word, concept, lex.topics[concept]) for word, concept in zip(found, concepts, strict=True)),
                   tuple(_TOKEN_RE.findall(_without_stop_phrases(rest))))


def proposal_features(title: str | None, content: str | None) -> dict[str, float]:
    """Features of a proposal with their kind weight: everything of the title; of the content, only its
    concepts and topics, at CONTENT_WEIGHT (the content's own wording is too varied to compare
    bigram by bigram, and would make every stored feature set large)."""
    title_part = analyse((title or "")[:TITLE_CHARS]).features
    content_part = {f for f in analyse((content or "")[:CONTENT_CHARS]).features if f[0] in "#~"}
    weights = {f: kind_weight(f) * CONTENT_WEIGHT for f in content_part}
    weights.update({f: kind_weight(f) for f in title_part})
    return weights


def encode(weights: dict[str, float]) -> list[str]:
    """Stored form: title features as they are, content-only features prefixed with '+'."""
    return sorted(f if w >= kind_weight(f) else "+" + f for f, w in weights.items())


def decode(stored: list[str] | tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in stored:
        if item.startswith("+"):
            out[item[1:]] = kind_weight(item[1:]) * CONTENT_WEIGHT
        else:
            out[item] = kind_weight(item)
    return out


def index_terms(stored: list[str] | tuple[str, ...]) -> list[str]:
    """The features an index lookup matches on (title and content alike; topics are never looked up)."""
    return [item[1:] if item.startswith("+") else item for item in stored if not item.lstrip("+").startswith("~")]


def kind_weight(feature: str) -> float:
    if feature.startswith("#"):
        return CONCEPT_WEIGHT
    if feature.startswith("~"):
        return TOPIC_WEIGHT
    return 1.0


def similarity(query: dict[str, float], other: dict[str, float], idf) -> float:
    """Weighted cosine (0–1) in which content that the other side does not share hardly dilutes the
    score (`UNSHARED_CONTENT`): a short title is compared with a long proposal's title and content
    without being drowned by the rest of the content.  `idf(feature)` gives the rarity weight."""
    return scores(query, other, idf)[0]


def scores(query: dict[str, float], other: dict[str, float], idf) -> tuple[float, float]:
    """(`similarity`, coverage): coverage is the share of the query's weight that `other` matches
    (0–1), whatever else `other` says; it ranks what passes the display threshold, so that a proposal
    sharing more of the query is not outranked by a shorter one sharing only its main concept."""
    if not query or not other:
        return 0.0, 0.0
    dot = 0.0
    for feature, weight in query.items():
        other_weight = other.get(feature)
        if other_weight is not None:
            dot += weight * other_weight * idf(feature) ** 2
    if dot == 0.0:
        return 0.0, 0.0
    query_norm = _norm(query, other, idf)
    cosine = min(1.0, dot / (query_norm * _norm(other, query, idf)))
    covered = sum((weight * idf(f)) ** 2 for f, weight in query.items() if f in other)
    return cosine, min(1.0, math.sqrt(covered) / query_norm)


def _norm(side: dict[str, float], opposite: dict[str, float], idf) -> float:
    total = 0.0
    for feature, weight in side.items():
        term = (weight * idf(feature)) ** 2
        if weight < kind_weight(feature) and feature not in opposite:
            term *= UNSHARED_CONTENT
        total += term
    return math.sqrt(total)


def reasons(query_title: str, query_content: str, other: dict[str, float], limit: int = 3) -> list[str]:
    """Why a proposal matched, for people: shared concepts, then shared words, else the shared topic."""
    shown: list[str] = []
    directions: list[str] = []  # 提高, 簡化 ...: shown after the subject
    lex = lexicon()
    for text in (query_title[:TITLE_CHARS], (query_content or "")[:CONTENT_CHARS]):
        concepts, _ = _match(_unfilled(normalize(text)), lex)
        for concept in concepts:
            if "#" + concept in other and concept not in shown and concept not in directions:
                (directions if lex.topics[concept] == NO_TOPIC else shown).append(concept)
    for run in analyse(query_title[:TITLE_CHARS]).runs:
        if run[0] < "\u0080":
            if run in other and run not in shown:
                shown.append(run)
            continue
        i = 0
        while i < len(run) - 1:  # longest stretches whose every bigram the other proposal has
            j = i
            while j < len(run) - 1 and run[j:j + 2] in other:
                j += 1
            if j > i:
                word = run[i:j + 1]
                if word not in shown:
                    shown.append(word)
                i = j + 1
            else:
                i += 1
    shown += directions
    if shown:
        return shown[:limit]
    topics = [f[1:] for f in analyse(query_title[:TITLE_CHARS]).features if f.startswith("~") and f in other]
    return [f"同屬「{t}」主題" for t in sorted(topics)[:1]]
