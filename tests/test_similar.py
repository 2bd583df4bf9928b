"""R9.1.4: before confirming, the proposer is shown similar or identical past and current proposals.

Every behavioural test runs twice: on PostgreSQL (the indexed path) and on SQLite (the development
default's portable path), by binding the global database proxy to a scratch SQLite file for the
test and restoring the PostgreSQL binding afterwards.
"""
from __future__ import annotations

import itertools

import pytest

from models import similar
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


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request, db, tmp_path):
    """The database the test runs on; PostgreSQL gets the search index, SQLite the portable path."""
    if request.param == "postgresql":
        similar.ensure_search_index()
        assert similar.search_ready()
        yield "postgresql"
        return
    from models.base import connect_database
    from webapp.schema import create_schema as create_tables

    original = db.obj
    sqlite = connect_database(f"sqlite:///{tmp_path}/similar.db")
    try:
        create_tables()
        similar.ensure_search_index()  # a no-op on SQLite
        assert not similar.search_ready()
        yield "sqlite"
    finally:
        sqlite.close()
        db.initialize(original)


def official() -> Official:
    n = next(_seq)
    return Official.create(line_user_id=f"Usimilar{n:08d}", status="verified", nickname=f"同仁{n}",
                           display_choice="nickname", email=f"similar{n}@taichung.gov.tw",
                           verified_email=f"similar{n}@taichung.gov.tw", agency_code="RDEC")


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
    assert found[0][0].id == target.id and found[0][1] == 1.0

    civil = proposal("公務人員彈性上班")
    found = similar.find_similar("公务员弹性上班")  # simplified characters, 公務員 for 公務人員
    assert found and found[0][0].id == civil.id and found[0][1] == 1.0

    full_width = proposal("ＬＩＮＥ群組公務聯繫規範１９９９")
    assert similar.find_similar("line群組公務聯繫規範1999")[0][0].id == full_width.id


def test_r9_1_4_unrelated_proposals_are_not_shown(backend):
    proposal("增設市政大樓員工機車停車格", "市政大樓機車停車格不足，建議增設。")
    proposal("學校午餐改用在地有機食材", "建議學校午餐採購在地有機蔬菜。")
    proposal("推動公文線上簽核全面無紙化", "建議各機關公文全面採用線上簽核。")

    assert similar.find_similar("延長公務人員育嬰留職停薪期間", "建議放寬育嬰留職停薪的申請條件與期間。") == []
    assert similar.find_similar("") == []
    assert similar.find_similar("。，！") == []


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
    assert found[0][0].id == identical.id and found[0][1] == 1.0
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert all(similar.MIN_SCORE <= score <= 1.0 for score in scores)
    assert {p.id for p, _ in found} <= {identical.id, *(p.id for p in near)}
    assert len(similar.find_similar("全面檢討差旅費報支程序", limit=2)) == 2
    assert similar.find_similar("全面檢討差旅費報支程序", limit=0) == []


def test_r9_1_4_a_changed_title_is_searched_under_its_new_wording(backend):
    item = proposal("增設市政大樓員工機車停車格", state=RETURNED)
    assert similar.find_similar("公務人員健康檢查補助") == []

    Proposal.update(title="提高公務人員健康檢查補助").where(Proposal.id == item.id).execute()

    assert [p.id for p, _ in similar.find_similar("公務人員健康檢查補助")] == [item.id]
    assert similar.find_similar("增設市政大樓員工機車停車格") == []


def test_r9_1_4_content_breaks_a_tie_between_equal_titles(backend):
    parking = proposal("改善員工停車空間", "市政大樓地下停車場機車位不足，建議增設機車停車格並開放夜間停放。")
    bikes = proposal("改善員工停車空間", "自行車停車架老舊，建議更新自行車停車架並增設遮雨棚。")

    found = similar.find_similar("改善員工停車空間", "地下停車場的機車停車格不夠，希望增設機車停車格。")
    assert [p.id for p, _ in found][:2] == [parking.id, bikes.id]
    assert found[0][1] > found[1][1]


# --- PostgreSQL: the SQL key and the rare-feature candidate lookup ------------------------------

def test_r9_1_4_sql_key_is_the_python_key(db):
    similar.ensure_search_index()
    samples = ["推動公務人員彈性上班制度", "建議實施公務員彈性上下班", "台中市政府 LINE 群組１９９９專線", "", "臺",
               "公文線上簽核，及電子化！", "𠀋𠀋abc中", "ＡＢＣ　ｄｅｆ「台中」㈱【公务员】的之", "O'Reilly 的 AI 公文摘要"]
    for text in samples:
        sql = db.execute_sql(f"SELECT {similar.SQL_FUNCTION}(%s)", (text,)).fetchone()[0]
        assert sql == similar.search_key(text), text
    item = proposal("臺中市政府公務員彈性上下班")
    stored = db.execute_sql(f'SELECT "{similar.KEY_COLUMN}" FROM proposal WHERE id = %s', (item.id,)).fetchone()[0]
    assert stored == similar.grams(item.title) == "市政 政府 府公 公務 務人 人員 員彈 彈性 性上 上班".split()
    Proposal.update(title="").where(Proposal.id == item.id).execute()
    assert db.execute_sql(f'SELECT "{similar.KEY_COLUMN}" FROM proposal WHERE id = %s', (item.id,)).fetchone()[0] == []


def test_r9_1_4_common_words_do_not_drive_the_lookup(db, monkeypatch):
    """With statistics, the query looks up its rarest bigrams; the near-duplicate is still found."""
    similar.ensure_search_index()
    monkeypatch.setattr(similar, "CANDIDATE_BUDGET", 20)  # rows; 500 in production, scaled to 121 rows
    for n in range(120):
        proposal(f"公務人員差勤管理第{n}項改善", f"第{n}項內容。")
    target = proposal("公務人員差勤管理導入臉部辨識打卡")
    db.execute_sql("ANALYZE proposal")
    similar._STATS.clear()

    rows = similar.feature_rows()
    assert rows is not None and rows["公務"] > 100
    query = set(similar.grams("公務人員差勤管理改用臉部辨識打卡"))
    picked, pairs = similar.pick_features(query)
    assert len(picked) >= similar.MIN_FEATURES and "辨識" in picked and pairs == []
    assert not {"公務", "務人", "人員", "差勤", "管理"} & set(picked)
    similar._STATS.clear()
    monkeypatch.setattr(similar, "CANDIDATE_BUDGET", 10_000)
    assert set(similar.pick_features(query)[0]) == query
    monkeypatch.setattr(similar, "CANDIDATE_BUDGET", 20)

    found = similar.find_similar("公務人員差勤管理改用臉部辨識打卡")
    assert found[0][0].id == target.id

    # Only common words: a candidate must share two of the rarest five.
    features, pairs = similar.pick_features(set(similar.grams("公務人員差勤管理")))
    assert features == [] and len(pairs) == 10
    found = similar.find_similar("公務人員差勤管理")
    assert len(found) == 5 and all("公務人員差勤管理" in p.title for p, _ in found)
    similar._STATS.clear()


def test_r9_1_4_ensure_search_index_is_idempotent(db):
    similar.ensure_search_index()
    similar.ensure_search_index()
    count = db.execute_sql("SELECT count(*) FROM pg_indexes WHERE indexname = %s", (similar.INDEX_NAME,)).fetchone()[0]
    assert count == 1
