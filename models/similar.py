"""Similar-proposal search (R9.1.4): before the proposer confirms, show up to five similar or identical
proposals, past and current, in every state a proposal reaches once submitted (`SIMILAR_STATES`).

Method: character bigrams
-------------------------
Chinese has no spaces, so word-based matching (PostgreSQL's full-text parsers, pg_trgm's "words")
sees a whole clause as one token.  We compare **character bigrams** of a normalised text instead —
the usual dictionary-free method for CJK near-duplicates (it is what Lucene's CJK analyzer does): a
reworded title keeps most of its two-character words (公務、人員、彈性、上班 ...); only the bigrams
touching an edit change.  No segmentation package or dictionary to install or keep current, and the
same code runs in Python and, as an SQL function, inside PostgreSQL.

Normalisation (`normalize`; `function_sql()` generates the identical SQL from the same tables):

1. NFKC (full-width letters and digits, compatibility ideographs), lower case;
2. variant and simplified characters folded to the Taiwan standard form (台→臺, 着→著, 务→務 ...,
   `VARIANTS`);
3. a few equivalent phrases folded (公務員→公務人員, 上下班→上班, 腳踏車→自行車 ..., `PHRASES`);
4. proposal boilerplate and particles dropped (建議, 推動, 實施, 辦理, 的, 之, 及 ..., `STOP_PHRASES`):
   nearly every proposal "建議推動" something, so those words are noise, and dropping particles
   makes 「公務人員的彈性上班」 and 「公務人員彈性上班」 yield the same bigrams;
5. anything that is not a CJK ideograph or an ASCII letter/digit separates runs.

Features (`grams`): each bigram of each run of ideographs (a lone ideograph stands for itself),
and each ASCII word whole ("line", "1999").

Score: Sørensen–Dice coefficient of the feature sets (2·|A∩B| / (|A|+|B|)), the title weighted 0.7
and the first `CONTENT_CHARS` characters of the content 0.3 when both sides have content, the title
alone otherwise.  Proposals scoring below `MIN_SCORE` are not shown: an unrelated proposal never
fills an empty slot.

Finding candidates fast (PostgreSQL)
------------------------------------
`ensure_search_index()` adds a stored generated column ``proposal.similar_title_grams_v1 text[]`` =
``string_to_array(similar_key_v1(title), ' ')`` (the title's features; PostgreSQL recomputes it on
every insert or update of the title, so nothing in the domain code has to keep it in sync), a GIN
index on it, and statistics target 1000 on it, so that ANALYZE's most-common-elements statistics
(`pg_stats`, readable by any role that may read the column) give each feature's document frequency.

A query looks up only its *rarest* features — at least `MIN_FEATURES`, more while the estimated
number of rows stays under `CANDIDATE_BUDGET` — with ``&&`` on that index.  A reworded duplicate
keeps most of its features, and rewording tends to swap common verbs and particles while the
specific nouns (the rare features) stay, so it is almost always among those rows.  When even the
rarest features of a short, generic title are common, a candidate must share two of the
`PAIR_FEATURES` rarest instead (``@>`` on pairs: posting-list intersections in the same index).
The candidates' stored keys are ranked by title Dice in Python; the best `CANDIDATES` are fetched
whole and given the final score.  The cost follows the rare features' posting lists, not how
common the query's other words are.  Benchmark (bench/README.md, 100,000 proposals, 2 shared
CPUs): p95 6–11 ms, planted reworded duplicates in the top five 98 %.

Rejected after measuring on the same benchmark: pg_trgm over the bigram key — GIN with the ``%``
similarity threshold (0.3: p95 ≈ 140 ms; 0.4: p95 ≈ 70 ms) and GiST ``<->`` KNN (p95 > 300 ms);
pg_trgm over the plain normalised text (p95 70–280 ms).  A Chinese title shares a common bigram or
two with thousands of others, and pg_trgm visits and rechecks every row over the threshold.
tsvector + ts_rank over the bigrams was not built: an OR of the bigrams matches the same thousands
of rows and ts_rank must score each.  The array/GIN method also does not depend on the database
locale (pg_trgm keeps ideographs only when LC_CTYPE classifies them as letters; not under "C").

SQLite (the development default), or PostgreSQL before `ensure_search_index()` has run: the most
recent `SCAN_LIMIT` proposals in `SIMILAR_STATES` are scored in Python — the same score, not fast.
"""
from __future__ import annotations

import itertools
import logging
import re
import time
import unicodedata
import weakref

from .base import db, is_postgres
from .proposals import SIMILAR_STATES, Proposal

log = logging.getLogger(__name__)

KEY_VERSION = 1  # bump whenever the normalisation changes: a new function, column and index are built
SQL_FUNCTION = f"similar_key_v{KEY_VERSION}"  # similar_key_v1(text) -> features joined by spaces
KEY_COLUMN = f"similar_title_grams_v{KEY_VERSION}"  # proposal.<this>: text[], stored generated column
INDEX_NAME = f"proposal_similar_title_grams_v{KEY_VERSION}_gin"
COLUMN_STATISTICS = 1000  # ANALYZE keeps up to 10x this many most-common features with their frequency

TITLE_WEIGHT = 0.7
MIN_SCORE = 0.4  # below this a proposal is not "similar" (planted rewordings score >= 0.5; bench/README.md)
MIN_FEATURES = 3  # rarest query features always looked up
CANDIDATE_BUDGET = 500  # more features are looked up while the estimated rows stay under this
PAIR_AFTER = 4  # ... unless the MIN_FEATURES rarest alone are estimated at over 4x the budget: then pairs
PAIR_FEATURES = 5  # a candidate must share two of this many rarest features (10 pairs)
CANDIDATES = 20  # best-by-title candidates given the full (title + content) score
SCAN_LIMIT = 20000  # portable path: most recent proposals considered
CONTENT_CHARS = 600  # content prefix compared (long texts add cost, little signal)
STATS_TTL = 600  # seconds a process keeps the feature frequencies read from pg_stats

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
# Equivalent phrases, applied in this order after VARIANTS.
PHRASES = [
    ("公務員", "公務人員"), ("上下班", "上班"), ("腳踏車", "自行車"), ("單車", "自行車"), ("摩托車", "機車"),
    ("電子化", "數位化"), ("網絡", "網路"), ("線上", "網路"), ("員工", "同仁"), ("職員", "同仁"),
    ("臺中市政府", "市政府"), ("市府", "市政府"), ("本府", "市政府"),
]
# Boilerplate and particles, removed after PHRASES (in this order).
STOP_PHRASES = [
    "建議", "建請", "擬請", "希望", "推動", "實施", "辦理", "研議", "研擬", "提案", "關於", "有關", "應該",
    "是否", "能否", "可否", "進行", "相關", "儘速", "盡速", "請", "的", "之", "及", "與", "和", "並", "或",
    "了", "等",
]
_STEPS = [(a, b) for a, b in PHRASES] + [(w, "") for w in STOP_PHRASES]
_VARIANT_TABLE = str.maketrans(VARIANTS)
_VARIANT_RE = re.compile("[" + "".join(VARIANTS) + "]")
_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_TOKEN_RE = re.compile(f"[0-9a-z]+|[{_IDEOGRAPHS}]+")
_SQL_TOKEN_PATTERN = r"[0-9a-z]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+"
# Common full-width punctuation: a separator either way, but replacing it first lets most Chinese
# text skip the (slow) NFKC pass; NFKC would only have turned it into ASCII punctuation.
_PUNCT_RE = re.compile("[\u3000-\u3003\u3008-\u3011\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")


def normalize(text: str | None) -> str:
    """NFKC, lower case, variant characters and phrases folded, boilerplate removed."""
    value = _PUNCT_RE.sub(" ", text or "")
    if not unicodedata.is_normalized("NFKC", value):
        value = unicodedata.normalize("NFKC", value)
    value = value.lower()
    if _VARIANT_RE.search(value):
        value = value.translate(_VARIANT_TABLE)
    chars = set(value)  # a cheap pre-check; may keep characters a replacement removed, never misses one
    for old, new in _STEPS:
        if old[0] in chars and old in value:
            value = value.replace(old, new)
            chars.update(new)
    return value


def grams(text: str | None) -> list[str]:
    """The features of a text, in order: ideograph bigrams (a lone ideograph as itself), ASCII words."""
    out: list[str] = []
    for word in _TOKEN_RE.findall(normalize(text)):
        if len(word) == 1 or word[0] < "\u0080":
            out.append(word)
        else:
            out.extend([word[i:i + 2] for i in range(len(word) - 1)])
    return out


def search_key(text: str | None) -> str:
    """What `similar_key_v1(text)` returns in SQL: the features joined by single spaces."""
    return " ".join(grams(text))


def dice(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2.0 * len(a & b) / (len(a) + len(b))


def score(query_title: set[str], query_content: set[str], title: set[str], content: str | None) -> float:
    """Similarity (0–1) of a stored proposal, given its title features, to the query."""
    title_score = dice(query_title, title)
    if not query_content or not content:
        return title_score
    return TITLE_WEIGHT * title_score + (1 - TITLE_WEIGHT) * dice(query_content, set(grams(content[:CONTENT_CHARS])))


# --- schema (PostgreSQL) ----------------------------------------------------------------------

def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _normalize_sql(arg: str) -> str:
    expr = (f"translate(lower(normalize(coalesce({arg}, ''), NFKC)), "
            f"{_sql_literal(''.join(VARIANTS))}, {_sql_literal(''.join(VARIANTS.values()))})")
    for old, new in _STEPS:
        expr = f"replace({expr}, {_sql_literal(old)}, {_sql_literal(new)})"
    return expr


def function_sql() -> str:
    """CREATE FUNCTION similar_key_v1(text), generated from the same tables as `normalize`/`grams`."""
    return f"""
CREATE OR REPLACE FUNCTION {SQL_FUNCTION}(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT coalesce(string_agg(g.tok, ' ' ORDER BY m.n, g.i), '')
FROM regexp_matches({_normalize_sql('t')}, {_sql_literal(_SQL_TOKEN_PATTERN)}, 'g') WITH ORDINALITY AS m(w, n)
CROSS JOIN LATERAL (
    SELECT m.w[1] AS tok, 0 AS i WHERE m.w[1] ~ '^[0-9a-z]' OR length(m.w[1]) = 1
    UNION ALL
    SELECT substr(m.w[1], s, 2), s FROM generate_series(1, length(m.w[1]) - 1) AS s
    WHERE m.w[1] !~ '^[0-9a-z]' AND length(m.w[1]) > 1
) AS g
$fn$"""


def ensure_search_index() -> None:
    """Create the key function, the stored key column and its GIN index (PostgreSQL; idempotent).

    Call from `create_tables()` once the tables exist.  Nothing to do on SQLite.  The column is
    ``text[] GENERATED ALWAYS AS (string_to_array(similar_key_v1(title), ' ')) STORED``; peewee never
    names it.  Keys of an older KEY_VERSION are dropped.  Adding the column to a large existing table
    rewrites it once.
    """
    if not is_postgres():
        return
    table = Proposal._meta.table_name
    columns = {column.name for column in db.get_columns(table)}

    def exists(kind: str, name: str) -> bool:
        return db.execute_sql(f"SELECT {kind}(%s) IS NOT NULL", (name,)).fetchone()[0]

    for old in range(1, KEY_VERSION):  # each step only when needed: ALTER TABLE locks the table
        if exists("to_regclass", f"proposal_similar_title_grams_v{old}_gin"):
            db.execute_sql(f'DROP INDEX "proposal_similar_title_grams_v{old}_gin"')
        if f"similar_title_grams_v{old}" in columns:
            db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "similar_title_grams_v{old}"')
        if exists("to_regprocedure", f"similar_key_v{old}(text)"):
            db.execute_sql(f"DROP FUNCTION similar_key_v{old}(text)")
    if not exists("to_regprocedure", f"{SQL_FUNCTION}(text)"):
        db.execute_sql(function_sql())  # never replaced in place: stored keys would go stale (bump KEY_VERSION)
    if KEY_COLUMN not in columns:
        db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{KEY_COLUMN}" text[] '
                       f"GENERATED ALWAYS AS (string_to_array({SQL_FUNCTION}(title), ' ')) STORED")
        db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{KEY_COLUMN}" SET STATISTICS {COLUMN_STATISTICS}')
    if not exists("to_regclass", INDEX_NAME):
        db.execute_sql(f'CREATE INDEX "{INDEX_NAME}" ON "{table}" USING gin ("{KEY_COLUMN}")')
    _READY.pop(db.obj, None)
    _STATS.pop(db.obj, None)


# Per database object (tests bind several in one process).
_READY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> (monotonic time, bool)
_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # -> (monotonic time, rows or None)


def search_ready() -> bool:
    """True when the indexed PostgreSQL path can be used (ensure_search_index has run); a "no" is
    looked at again after STATS_TTL seconds."""
    if not is_postgres():
        return False
    database = db.obj
    cached = _READY.get(database)
    if cached and (cached[1] or time.monotonic() - cached[0] < STATS_TTL):
        return cached[1]
    ready = bool(db.execute_sql("SELECT to_regclass(%s) IS NOT NULL", (INDEX_NAME,)).fetchone()[0])
    if not ready:
        log.warning("similar-proposal index %s missing: using the slow portable search", INDEX_NAME)
    _READY[database] = (time.monotonic(), ready)
    return ready


def feature_rows() -> dict[str, float] | None:
    """Estimated number of proposals containing each common feature, from the key column's ANALYZE
    statistics (None before the first ANALYZE).  A feature not listed is rarer than every listed one;
    its estimate is under the "" key."""
    database = db.obj
    cached = _STATS.get(database)
    if cached and time.monotonic() - cached[0] < STATS_TTL:
        return cached[1]
    row = db.execute_sql(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
        "FROM pg_stats s, pg_class c WHERE s.schemaname = current_schema() AND s.tablename = %s "
        "AND s.attname = %s AND c.oid = to_regclass(%s)",
        (Proposal._meta.table_name, KEY_COLUMN, Proposal._meta.table_name)).fetchone()
    rows: dict[str, float] | None = None
    if row and row[0] and row[1] and row[2] and row[2] > 0:
        elems, freqs, total = row
        rows = {elem: freq * total for elem, freq in zip(elems, freqs[:len(elems)], strict=True)}
        rows[""] = freqs[len(elems)] * total / 2  # after the per-element list: min, max, null fraction
    _STATS[database] = (time.monotonic(), rows)
    return rows


def pick_features(features: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """What to look up for a query: (features, pairs); a candidate has one of the features or both of a pair.

    Normally the rarest MIN_FEATURES features, and more while their estimated rows stay within
    CANDIDATE_BUDGET.  When even the MIN_FEATURES rarest are common (a short, generic title), a
    candidate must instead share two of the PAIR_FEATURES rarest: still found by the index (each
    pair is an intersection of two posting lists), and a near-duplicate shares most of them.
    """
    rows = feature_rows()
    if rows is None:
        return sorted(features), []
    rare = rows[""]
    ranked = sorted(features, key=lambda f: (rows.get(f, rare), f))
    picked: list[str] = []
    total = 0.0
    for feature in ranked:
        estimate = rows.get(feature, rare)
        if len(picked) >= MIN_FEATURES and total + estimate > CANDIDATE_BUDGET:
            break
        picked.append(feature)
        total += estimate
    if total <= CANDIDATE_BUDGET * PAIR_AFTER or len(ranked) < 2:
        return picked, []
    return [], list(itertools.combinations(ranked[:PAIR_FEATURES], 2))


# --- search -----------------------------------------------------------------------------------

def _candidates_postgres(query_title: set[str], exclude_id: int | None) -> list[tuple[int, str]]:
    """(id, stored key) of the proposals in SIMILAR_STATES that share the query's rarest features."""
    table = Proposal._meta.table_name
    states = sorted(SIMILAR_STATES)
    array = f'p."{KEY_COLUMN}"'
    features, pairs = pick_features(query_title)
    if features:
        match, params = f"{array} && %s::text[]", [features]
    else:
        match = " OR ".join([f"{array} @> %s::text[]"] * len(pairs))
        params = [list(pair) for pair in pairs]
    sql = (f"SELECT p.id, array_to_string({array}, ' ') FROM \"{table}\" AS p WHERE ({match}) "
           f"AND p.state IN ({', '.join(['%s'] * len(states))})")
    params += states
    if exclude_id is not None:
        sql += " AND p.id <> %s"
        params.append(exclude_id)
    return db.execute_sql(sql, params).fetchall()


def _candidates_scan(exclude_id: int | None) -> list[tuple[int, str]]:
    query = (Proposal.select(Proposal.id, Proposal.title).where(Proposal.state.in_(SIMILAR_STATES))
             .order_by(Proposal.id.desc()).limit(SCAN_LIMIT))
    if exclude_id is not None:
        query = query.where(Proposal.id != exclude_id)
    return [(pid, search_key(title)) for pid, title in query.tuples()]


def find_similar(title: str, content: str = "", *, limit: int = 5,
                 exclude_id: int | None = None) -> list[tuple[Proposal, float]]:
    """Up to `limit` proposals in SIMILAR_STATES like (title, content), best first, with scores (0–1).

    `exclude_id` leaves out the proposal being written (a returned proposal is itself in SIMILAR_STATES).
    """
    query_title = set(grams(title))
    if not query_title or limit <= 0:
        return []
    if search_ready():
        candidates = _candidates_postgres(query_title, exclude_id)
    else:
        candidates = _candidates_scan(exclude_id)
    size = len(query_title)
    by_title = []
    for pid, key in candidates:  # often a thousand rows: rank on the stored key, cheaply
        features = key.split(" ") if key else ()
        shared = len(query_title.intersection(features))
        if shared:
            by_title.append((2.0 * shared / (size + len(features)), pid))
    by_title.sort(key=lambda item: (-item[0], -item[1]))
    shortlist = [pid for _, pid in by_title[:max(CANDIDATES, limit)]]
    if not shortlist:
        return []
    query_content = set(grams((content or "")[:CONTENT_CHARS]))
    scored = []
    for proposal in Proposal.select().where(Proposal.id.in_(shortlist)):
        value = score(query_title, query_content, set(grams(proposal.title)), proposal.content)
        if value >= MIN_SCORE:
            scored.append((round(value, 4), proposal))
    scored.sort(key=lambda item: (-item[0], -item[1].id))
    return [(proposal, value) for value, proposal in scored[:limit]]
