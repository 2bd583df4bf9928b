"""R9.1.4: before confirming, the proposer is shown similar or identical past and current proposals.

Every behavioural test runs twice: on PostgreSQL (the indexed path) and on SQLite (the development
default's portable path), by binding the global database proxy to a scratch SQLite file for the
test and restoring the PostgreSQL binding afterwards.
"""
from __future__ import annotations

import itertools

import pytest

from models import settings, similar
from models import similar_lexicon as lex
from models.officials import Official
from models.proposals import (
    DRAFT,
    ESTABLISHED,
    LAPSED,
    REMOVED,
    RESPONDED,
    RETURNED,
    SECONDING,
    SIMILAR_STATES,
    SUBMITTED,
    WITHDRAWN,
    Proposal,
)

_seq = itertools.count(1)


@pytest.fixture
def backend(similar_backend):
    """PostgreSQL with the search index, or SQLite (tests/fixtures_app.py)."""
    return similar_backend


def official() -> Official:
    n = next(_seq)
    return Official.create(line_user_id=f"Usimilar{n:08d}", status="verified", nickname=f"同仁{n}",
                           display_choice="nickname", email=f"similar{n}@taichung.gov.tw",
                           verified_email=f"similar{n}@taichung.gov.tw", agency_code="RDEC",
                           terms_version=settings.TERMS_VERSION)


def proposal(title: str, content: str = "", state: str = SECONDING, who: Official | None = None) -> Proposal:
    return Proposal.create(proposer=who or official(), state=state, scope="internal", title=title,
                           content=content or f"關於「{title}」的具體建議內容。", benefits="提升效率。",
                           agency_by_ops=True)


def titles(found) -> list[str]:
    return [p.title for p, _ in found]


def test_r9_1_4_reworded_title_is_found(backend):
    target = proposal("推動公務人員彈性上班制度", "建議本府各機關全面實施彈性上班，讓同仁可在七點至九點半之間到班。")
    proposal("增設市政大樓員工機車停車格", "市政大樓機車停車格不足，建議增設。")
    proposal("公文線上簽核全面無紙化", "建議各機關公文全面採用線上簽核，減少紙張。")

    found = similar.find_similar("建議實施公務員彈性上下班")
    assert [p.id for p, _ in found] == [target.id]
    assert found[0][1] >= 0.8

    with_content = similar.find_similar("公務員上下班時間彈性化", "希望各機關讓公務員可以彈性上下班，七點到九點半之間到班。")
    assert with_content[0][0].id == target.id


def test_r9_1_4_tai_and_character_variants_match(backend):
    target = proposal("臺中市政府各機關增設哺集乳室")
    found = similar.find_similar("台中市政府各機關增設哺集乳室")
    assert found[0][0].id == target.id and found[0][1] >= 0.99

    civil = proposal("公務人員彈性上班")
    found = similar.find_similar("公务员弹性上班")  # simplified characters, 公務員 for 公務人員
    assert found and found[0][0].id == civil.id and found[0][1] >= 0.99

    full_width = proposal("ＬＩＮＥ群組公務聯繫規範１９９９")
    assert similar.find_similar("line群組公務聯繫規範1999")[0][0].id == full_width.id


def test_r9_1_4_unrelated_proposals_are_not_shown(backend):
    proposal("增設市政大樓員工機車停車格", "市政大樓機車停車格不足，建議增設。")
    proposal("學校午餐改用在地有機食材", "建議學校午餐採購在地有機蔬菜。")
    proposal("推動公文線上簽核全面無紙化", "建議各機關公文全面採用線上簽核。")

    assert similar.find_similar("延長公務人員育嬰留職停薪期間", "建議放寬育嬰留職停薪的申請條件與期間。") == []
    assert similar.find_similar("") == []
    assert similar.find_similar("。，！") == []


def test_r9_1_4_backfill_runs_on_either_database(backend):
    proposal("提高加班費每月時數上限")
    assert similar.refresh() == (1 if backend == "postgresql" else 0)  # SQLite keeps no index
    assert similar.refresh() == 0


def test_r9_1_4_only_submitted_and_later_states_are_searched(backend):
    title = "辦公室冷氣溫度統一設定為二十六度"
    by_state = {state: proposal(title, state=state) for state in
                (DRAFT, SUBMITTED, RETURNED, WITHDRAWN, REMOVED, SECONDING, ESTABLISHED, LAPSED, RESPONDED)}

    found = similar.find_similar(title, limit=20)

    shown = {p.state for p, _ in found}
    assert shown == SIMILAR_STATES == {SUBMITTED, RETURNED, SECONDING, ESTABLISHED, LAPSED, RESPONDED}
    assert not {DRAFT, WITHDRAWN, REMOVED} & shown
    assert {p.id for p, _ in found} == {by_state[s].id for s in SIMILAR_STATES}


def test_r9_1_4_exclude_id_leaves_out_the_proposal_being_written(backend):
    own = proposal("擴大公務人員英語能力檢定補助", state=RETURNED)
    other = proposal("公務人員英語能力檢定補助擴大辦理")

    found = similar.find_similar(own.title, exclude_id=own.id)
    assert [p.id for p, _ in found] == [other.id]
    assert own.id in [p.id for p, _ in similar.find_similar(own.title)]


def test_r9_1_4_at_most_five_best_first(backend):
    identical = proposal("全面檢討差旅費報支程序")
    near = [proposal(t) for t in ("差旅費報支程序全面檢討", "檢討國內差旅費報支程序", "簡化差旅費報支程序",
                                  "差旅費報支程序繁瑣請檢討", "研議檢討差旅費報支的程序", "全面檢視差旅費報支流程",
                                  "差旅費報支程序線上化")]

    found = similar.find_similar("全面檢討差旅費報支程序")

    assert len(found) == 5
    assert found[0][0].id == identical.id and found[0][1] >= 0.99
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert all(similar.MIN_SCORE <= score <= 1.0 for score in scores)
    assert {p.id for p, _ in found} <= {identical.id, *(p.id for p in near)}
    assert len(similar.find_similar("全面檢討差旅費報支程序", limit=2)) == 2
    assert similar.find_similar("全面檢討差旅費報支程序", limit=0) == []


def test_r9_1_4_proposals_in_review_outranking_the_published_ones_do_not_shorten_the_list(backend):
    """The bot shows published proposals (and the official's own): three in review that rank first are
    passed over and the list is still five long, filled from further down."""
    in_review = [proposal(t, state=s) for t, s in (("全面檢討差旅費報支程序", SUBMITTED),
                                                    ("差旅費報支程序全面檢討", RETURNED),
                                                    ("全面檢討差旅費的報支程序", SUBMITTED))]
    published = [proposal(t) for t in ("檢討國內差旅費報支程序", "簡化差旅費報支程序", "差旅費報支程序繁瑣請檢討",
                                       "研議檢討差旅費報支的程序", "全面檢視差旅費報支流程", "差旅費報支程序線上化")]

    assert {p.id for p, _ in similar.find_similar("全面檢討差旅費報支程序")[:3]} == {p.id for p in in_review}
    shown = similar.shown_before_submitting("全面檢討差旅費報支程序")
    assert len(shown) == 5 and {m.proposal.id for m in shown} < {p.id for p in published}
    own = similar.shown_before_submitting("全面檢討差旅費報支程序", official_id=in_review[0].proposer_id)
    assert own[0].proposal.id == in_review[0].id  # the official's own proposal in review is shown to them


def test_r9_1_4_a_changed_title_is_searched_under_its_new_wording(backend):
    item = proposal("增設市政大樓員工機車停車格", state=RETURNED)
    assert similar.find_similar("公務人員健康檢查補助") == []

    Proposal.update(title="提高公務人員健康檢查補助", content="健康檢查補助金額太低。").where(Proposal.id == item.id).execute()

    assert [p.id for p, _ in similar.find_similar("公務人員健康檢查補助")] == [item.id]
    assert similar.find_similar("增設市政大樓員工機車停車格") == []


def test_r9_1_4_content_breaks_a_tie_between_equal_titles(backend):
    parking = proposal("改善員工停車空間", "市政大樓地下停車場機車位不足，建議增設機車停車格並開放夜間停放。")
    bikes = proposal("改善員工停車空間", "自行車停車架老舊，建議更新自行車停車架並增設遮雨棚。")

    found = similar.find_similar("改善員工停車空間", "地下停車場的機車停車格不夠，希望增設機車停車格。")
    assert [p.id for p, _ in found][:2] == [parking.id, bikes.id]
    assert found[0][1] > found[1][1]


# --- meaning: other words for the same request (issue 14) --------------------------------------

# A small fixed set: the issue's own examples and pairs of the same kind (not the benchmark's).
MEANING_PAIRS = [
    ("提高超勤津貼上限", "加班費每月上限太低應調整"),
    ("國民旅遊卡刷卡限制放寬", "休假補助可以用的地方太少"),
    ("因公請假的核給要一致", "公假規定各機關不一樣"),
    ("年終考核應該看實際表現", "考績制度改革"),
    ("在家上班的規定", "訂定遠距辦公實施要點"),
    ("紙本公文太多", "擴大電子公文線上簽核"),
]
DISTRACTORS = [
    ("市政大樓增設機車停車格", "機車停車格不足。"),
    ("學校午餐改用在地有機食材", "學校午餐採購在地有機蔬菜。"),
    ("辦公室冷氣溫度設定為二十六度", "夏季冷氣溫度。"),
    ("擴大公務人員英語能力檢定補助", "英語檢定。"),
    ("改善新進人員報到流程", "報到第一天。"),
]


@pytest.mark.parametrize("query,existing", MEANING_PAIRS)
def test_r9_1_4_same_request_in_other_words_is_found(backend, query, existing):
    for title, content in DISTRACTORS:
        proposal(title, content)
    target = proposal(existing, f"{existing}。")

    found = similar.find_similar_explained(query)

    assert found and found[0].proposal.id == target.id, [(m.proposal.title, m.score) for m in found]
    assert found[0].reasons  # the bot says why it matched


def test_r9_1_4_reasons_name_the_shared_concept_or_words(backend):
    overtime = proposal("加班費每月上限太低應調整")
    match = similar.find_similar_explained("提高超勤津貼上限")[0]
    assert match.proposal.id == overtime.id
    assert match.reasons[:2] == ["加班費", "上限"]  # 超勤津貼 means 加班費; 上限 is the word in common


def test_r9_1_4_short_title_finds_a_long_proposal_and_its_content(backend):
    target = proposal("關於同仁請假時的業務銜接",
                      "同仁請長假時業務常無人處理，建議各單位明定職務代理人及代理順序，並辦理業務交接。")
    proposal("增設市政大樓員工機車停車格", "市政大樓機車停車格不足，建議增設。")
    found = similar.find_similar("落實職務代理人制度")
    assert [p.id for p, _ in found] == [target.id]


def test_r9_1_4_colloquial_fillers_do_not_hide_a_lexicon_word(backend):
    """人根本不夠: without the filler 根本 it reads 人不夠, a word of the 人力不足 concept."""
    for title, content in DISTRACTORS:
        proposal(title, content)
    target = proposal("增補人力以減少同仁長期超時工作")
    assert "#人力不足" in lex.analyse("每天都加班到很晚，人根本不夠").features
    found = similar.find_similar("每天都加班到很晚，人根本不夠")
    assert [p.id for p, _ in found][:1] == [target.id]


def test_r9_1_4_the_proposal_sharing_more_of_the_query_ranks_first(backend):
    """A long proposal that shares the query's concept and its specific word (屋頂) ranks above a short one
    sharing only the concept, although the short one's cosine is higher: shown by cosine, ranked by coverage."""
    short = proposal("改善太陽能板")
    covering = proposal("市政大樓屋頂設置太陽光電並定期清洗維護以提高發電效率")
    found = similar.find_similar_explained("在屋頂裝太陽能板")
    assert [m.proposal.id for m in found][:2] == [covering.id, short.id]
    assert found[0].score < found[1].score  # the score shown is still the cosine
    assert "屋頂" in found[0].reasons


def test_r9_1_4_a_shared_topic_alone_is_not_shown(backend):
    proposal("補休期限延長為一年", "補休期限太短。")  # 差勤, like the query, but another request
    assert similar.find_similar("生理假可以用小時請") == []


@pytest.mark.parametrize("text", ["", "假", "😀😀😀", "🙏🏻公文", "a", "ｘ" * 10_000, "加班" * 5_000,
                                  "Line群組 加班費 overtime pay 上限 100%！", "\x00\u202e\ufeff", "臺" * 10_000])
def test_r9_1_4_bad_input_returns_a_list_quickly(backend, text):
    proposal("提高加班費每月時數上限", "加班費上限。")
    found = similar.find_similar(text, text)
    assert isinstance(found, list) and len(found) <= 5


def test_r9_2_3_duplicates_are_searched_among_proposals_in_seconding_only(backend):
    seconding = proposal("提高加班費每月時數上限", state=SECONDING)
    proposal("提高加班費每月時數上限", state=SUBMITTED)
    proposal("提高加班費每月時數上限", state=ESTABLISHED)
    found = similar.find_similar("加班費上限應該提高", states={SECONDING})
    assert [p.id for p, _ in found] == [seconding.id]


# --- the index keeps up (PostgreSQL) ----------------------------------------------------------

def test_r9_1_4_index_follows_inserts_edits_and_removals_in_their_transaction(db):
    similar.ensure_search_index()
    item = proposal("提高加班費每月時数上限")
    queued = db.execute_sql(f"SELECT count(*) FROM {similar.index.QUEUE} WHERE proposal_id = %s", (item.id,))
    assert queued.fetchone()[0] == 1  # queued by the trigger, in the insert's transaction
    assert [p.id for p, _ in similar.find_similar("超勤津貼上限太低")] == [item.id]

    Proposal.update(title="增設哺集乳室", content="哺乳同仁需要空間。").where(Proposal.id == item.id).execute()
    assert similar.find_similar("超勤津貼上限太低") == []
    assert [p.id for p, _ in similar.find_similar("媽媽同仁需要集乳室")] == [item.id]

    Proposal.delete().where(Proposal.id == item.id).execute()
    assert similar.find_similar("媽媽同仁需要集乳室") == []
    assert db.execute_sql(f"SELECT count(*) FROM {similar.index.TABLE}").fetchone()[0] == 0


def test_r9_1_4_the_deadlines_sweep_catches_the_index_up(db):
    from models.deadlines import SWEEP_STEPS

    assert ("R9.1.4", "similar_index", similar.catch_up) in SWEEP_STEPS
    similar.ensure_search_index()
    item = proposal("提高加班費每月時數上限")
    assert similar.catch_up() == 1 + similar.vectors.enabled()  # its features, then its title's vector
    assert db.execute_sql(f"SELECT count(*) FROM {similar.index.QUEUE}").fetchone()[0] == 0
    stored = db.execute_sql(f"SELECT features FROM {similar.index.TABLE} WHERE proposal_id = %s", (item.id,))
    assert "#加班費" in stored.fetchone()[0]


def test_r9_1_4_a_changed_lexicon_queues_every_proposal_again(db, monkeypatch):
    similar.ensure_search_index()
    items = [proposal("提高加班費每月時數上限"), proposal("增設哺集乳室")]
    assert similar.refresh() >= 2
    assert similar.refresh() == 0
    db.execute_sql(f"UPDATE {similar.index.META} SET value = 'older' WHERE key = 'lexicon'")
    similar.ensure_search_index()  # what `flask db migrate` runs after a deploy
    assert similar.refresh() == len(items)  # the backfill: `flask db reindex-similar`
    similar.ensure_search_index()
    assert similar.refresh() == 0


def test_r9_1_4_common_features_do_not_drive_the_lookup(db, monkeypatch):
    """With statistics, the query looks up its rarest features, and pairs of its common concepts."""
    similar.ensure_search_index()
    monkeypatch.setattr(similar, "CANDIDATE_BUDGET", 20)  # rows; 600 in production, scaled to 121 rows
    for n in range(120):
        proposal(f"公務人員加班費第{n}項改善", f"第{n}項內容。")
    target = proposal("加班費導入臉部辨識打卡")
    similar.refresh()
    db.execute_sql("ANALYZE proposal_similar")
    similar.index.clear_caches()

    stats = similar.index.feature_rows()
    assert stats is not None and stats[0]["#加班費"] > 100
    query = similar.lex.proposal_features("超勤津貼改用臉部辨識打卡", "")
    picked, pairs = similar.pick_features(query, stats)
    assert "辨識" in picked and "#加班費" not in picked
    assert similar.find_similar("超勤津貼改用臉部辨識打卡")[0][0].id == target.id
    similar.index.clear_caches()


def test_r9_1_4_a_query_of_common_features_only_still_finds_its_duplicate(db, monkeypatch):
    """Every feature of 「員工停車費太貴」 (停車, 調降) is over the budget, and so is their pair: the
    cheapest pair is looked up anyway, or the list would be empty by construction (bench/README.md)."""
    similar.ensure_search_index()
    monkeypatch.setattr(similar, "CANDIDATE_BUDGET", 20)  # rows, scaled as above; LAST_RESORT_ROWS stays
    for n in range(60):
        proposal(f"第{n}號停車場增設充電樁", f"第{n}項內容。")
        proposal(f"調降第{n}類影印費用", f"第{n}項內容。")
    target = proposal("調降市府員工停車場月租費")
    similar.refresh()
    db.execute_sql("ANALYZE proposal_similar")
    similar.index.clear_caches()

    query = similar.lex.proposal_features("員工停車費太貴", "")
    assert {f for f in query if f.startswith("#")} == {"#停車", "#調降"}
    picked, pairs = similar.pick_features(query, similar.index.feature_rows())
    assert picked == [] and pairs == [("#停車", "#調降")]
    assert similar.find_similar("員工停車費太貴")[0][0].id == target.id
    similar.index.clear_caches()


def test_r9_1_4_ensure_search_index_is_idempotent(db):
    similar.ensure_search_index()
    similar.ensure_search_index()
    count = db.execute_sql("SELECT count(*) FROM pg_indexes WHERE indexname = %s", (similar.index.INDEX_NAME,)).fetchone()[0]
    assert count == 1
    triggers = db.execute_sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'proposal_similar_queue_trg'").fetchone()[0]
    assert triggers == 1


# --- the lexicon file ------------------------------------------------------------------------

def test_r9_1_4_lexicon_file_is_well_formed_and_no_word_means_two_concepts():


    owner: dict[str, str] = {}
    clashes = []
    with open(lex.LEXICON_PATH, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            topic, concept, words = line.rstrip("\n").split("\t")
            assert topic and concept and words, line
            for word in [concept, *words.split("、")]:
                key = lex.normalize(word)
                assert len(key) >= 2, (concept, word)
                if owner.setdefault(key, concept) != concept:
                    clashes.append((word, owner[key], concept))
    assert clashes == []
    parsed = lex.lexicon()
    assert parsed.words["國旅卡"] == parsed.words["休假補助"] == "國民旅遊卡"
    assert parsed.words["因公請假"] == "公假" and parsed.words["年終考核"] == "考績"


# --- the bot explains the list (item 3) ------------------------------------------------------------

def test_r9_1_4_carousel_shows_state_seconds_and_why(db):
    import json

    from bot import proposal_cards as cards

    similar.ensure_search_index()
    seconding = proposal("加班費每月上限太低應調整", state=SECONDING)
    Proposal.update(second_count=37).where(Proposal.id == seconding.id).execute()
    proposal("增設市政大樓員工機車停車格", "機車停車格不足。", state=ESTABLISHED)
    found = similar.find_similar_explained("提高超勤津貼上限")
    assert [m.proposal.id for m in found] == [seconding.id]

    carousel = cards.similar_carousel(found, "http://localhost", quick=[])
    body = json.dumps(carousel, ensure_ascii=False)
    assert "附議中" in body and "附議：37 / 200" in body
    assert "相似之處：加班費、上限" in body
    assert f"p={seconding.id}" in body  # 改為附議 is offered right there
    assert "改為附議" in body
