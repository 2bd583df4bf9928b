"""The public list page at scale (issue 13 item 3): its pages, counts, filters and search give what the
plain query gave before the indexes, deferred rows, cached counts and capped search counts."""
from __future__ import annotations

import datetime as dt
import re

import peewee
import pytest

from models import public_list
from models.base import db, is_postgres
from models.migrations import _PUBLISHED, POSTGRES_INDEXES
from models.proposals import PUBLISHED_STATES, REMOVED, Proposal
from models.schema import create_tables
from tests.factories import verified_official
from tests.helpers import load_agencies

START = dt.datetime(2026, 3, 2, 1, 0)
STATES = ["seconding", "established", "lapsed", "responded", "removed", "submitted", "draft"]
TITLES = ["推動公文線上簽核", "臺中市彈性上班試辦", "AI 輔助公文摘要", "區公所夜間服務時段", "減少紙張傳遞"]


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


@pytest.fixture
def proposals(db):
    """53 proposals in every state, some seconding starts equal (ties broken by id), two never started."""
    official = verified_official()
    rows = []
    for i in range(53):
        state = STATES[i % len(STATES)]
        started = None if state in ("submitted", "draft") or i in (7, 14) else START - dt.timedelta(hours=i // 3)
        rows.append({"proposer": official.id, "state": state, "scope": "internal", "title": f"{TITLES[i % 5]}第{i}案",
                     "content": "內容", "benefits": "效益", "evidence": "無", "agency_code": "RDEC",
                     "seconding_started_at": started, "seconding_ends": (START + dt.timedelta(days=30)).date(),
                     "second_count": i, "updated_at": START})
    Proposal.insert_many(rows).execute()
    return rows


def reference(state: str = "", text: str = "") -> list[int]:
    """Every id the page showed before this work, in order: the plain query over published proposals."""
    query = Proposal.select(Proposal.id).where(Proposal.state.in_(PUBLISHED_STATES))
    if state in PUBLISHED_STATES:
        query = query.where(Proposal.state == state)
    if text:
        query = query.where((Proposal.title ** f"%{text.replace('台', '臺')}%") & (Proposal.state != REMOVED))
    return [i for (i,) in query.order_by(Proposal.seconding_started_at.desc(nulls="LAST"), Proposal.id.desc()).tuples()]


def shown_ids(html: str) -> list[int]:
    """The proposals listed on a page, in order (a removed one shows only its number)."""
    return [int(m.group(1) or m.group(2)) for m in re.finditer(r'href="/proposals/(\d+)"|<h2>第 (\d+) 號（已移除）</h2>', html)]


def walk(client, state: str = "", text: str = "") -> tuple[list[int], list[str]]:
    """Follow 下一頁 from the first page to the last; (ids shown, each page's pager text)."""
    ids, pagers, url = [], [], f"/?state={state}&q={text}"
    while url:
        html = client.get(url).get_data(as_text=True)
        ids += shown_ids(html)
        pager = re.search(r'<nav class="pager".*?</nav>', html, re.S)
        pagers.append(pager.group(0) if pager else "")
        following = re.search(r'<a href="([^"]+)" rel="next">下一頁</a>', html)
        url = "/" + following.group(1).replace("&amp;", "&") if following else None
    return ids, pagers


def test_list_pages_link_forward_and_back_through_every_published_proposal(client, proposals):
    expected = reference()
    assert len(expected) == 39  # 53 rows, 14 of them draft or submitted
    ids, pagers = walk(client)
    assert ids == expected
    assert "上一頁" not in pagers[0] and "第 1 / 2 頁" in pagers[0]
    assert 'href="?page=1&state=&q=" rel="prev">上一頁' in pagers[1] and "下一頁" not in pagers[1]
    first = client.get("/").get_data(as_text=True)
    assert "共 39 件" in first
    assert shown_ids(client.get("/?page=2").get_data(as_text=True)) == expected[20:]
    assert shown_ids(client.get("/?page=3").get_data(as_text=True)) == []  # past the end: none, as before
    assert shown_ids(client.get("/?page=x").get_data(as_text=True)) == expected[:20]


@pytest.mark.parametrize("state", sorted(PUBLISHED_STATES) + ["draft", "nonsense"])
def test_each_filter_shows_what_the_plain_query_shows(client, proposals, state):
    ids, _ = walk(client, state=state)
    assert ids == reference(state)
    expected = len(reference(state))
    assert f"共 {expected} 件" in client.get(f"/?state={state}").get_data(as_text=True)


@pytest.mark.parametrize("text", ["公文", "台中", "ai", "AI 輔助", "第1", "夜間服務時段第3", "查無此字", "%"])
@pytest.mark.parametrize("state", ["", "seconding", "removed"])
def test_search_shows_what_the_plain_query_shows(client, proposals, text, state):
    ids, _ = walk(client, state=state, text=text)
    assert ids == reference(state, text)
    assert f"共 {len(ids)} 件" in client.get(f"/?state={state}&q={text}").get_data(as_text=True)


def test_a_search_counts_up_to_the_cap_and_still_pages_on(client, proposals, monkeypatch):
    monkeypatch.setattr(public_list, "SEARCH_COUNT_CAP", 25)
    expected = reference(text="第")
    assert len(expected) == 32  # published, not removed
    first = client.get("/?q=第").get_data(as_text=True)
    assert "共 25 件以上" in first and "第 1 頁" in first and " / " not in re.search(r"第 1.*?頁", first).group(0)
    ids, pagers = walk(client, text="第")
    assert ids == expected and len(pagers) == 2  # page 2 lies past the cap: read with an offset
    assert "下一頁" not in pagers[-1]


def test_state_counts_are_kept_while_the_proposals_stay_the_same(app, client, proposals):
    public_list.clear_cache()
    app.config["PUBLIC_COUNT_CACHE_SECONDS"] = 60
    try:
        assert "共 39 件" in client.get("/").get_data(as_text=True)
        # a write that bypasses updated_at (none of the domain's do) is not seen while cached...
        db.execute_sql("UPDATE proposal SET state = 'draft' WHERE id = 1")
        assert "共 39 件" in client.get("/").get_data(as_text=True)
        # ...every state change moves updated_at, and a new proposal the newest id: counted at once
        Proposal.update(updated_at=START + dt.timedelta(minutes=1)).where(Proposal.id == 2).execute()
        assert "共 38 件" in client.get("/").get_data(as_text=True)
        Proposal.insert(proposer=proposals[0]["proposer"], state="seconding", title="新提案", updated_at=START,
                        seconding_started_at=START).execute()
        assert "共 39 件" in client.get("/").get_data(as_text=True)
        assert public_list.state_counts(max_age=0)["seconding"] == 8  # 8 seeded, one made a draft, one new
    finally:
        public_list.clear_cache()


def test_the_list_indexes_are_created_by_migrate_and_match_the_published_states(db):
    assert _PUBLISHED == "state IN ({})".format(", ".join(f"'{s}'" for s in sorted(PUBLISHED_STATES)))
    if not is_postgres():
        return
    names = [name for name, _ in POSTGRES_INDEXES]
    db.execute_sql(f'DROP INDEX "{names[0]}"')
    create_tables()  # what `flask db migrate` runs
    present = {row[0] for row in db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'proposal'")}
    assert set(names) <= present


def test_sqlite_keeps_working_with_like(tmp_path):
    """Development runs on SQLite: same query, no PostgreSQL-only index or LIKE rewrite."""
    from models.base import db as proxy

    original = proxy.obj
    sqlite = peewee.SqliteDatabase(str(tmp_path / "list.db"))
    proxy.initialize(sqlite)
    try:
        from models.agencies import Agency
        from models.officials import Official

        sqlite.create_tables([Agency, Official, Proposal])
        official = Official.create(line_user_id="U1", status="verified", real_name="甲", email="a@taichung.gov.tw")
        for i, title in enumerate(["AI 公文", "ai 摘要", "彈性上班"]):
            Proposal.create(proposer=official, state="seconding", title=title, seconding_started_at=START + dt.timedelta(hours=i))
        page = public_list.page_of("", "Ai", 1)
        assert [p.title for p in page.proposals] == ["ai 摘要", "AI 公文"] and page.total == 2
        assert public_list.page_of("seconding", "", 1).total == 3
    finally:
        proxy.initialize(original)
        sqlite.close()
