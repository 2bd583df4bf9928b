"""R9.1.4 (issue 14 item 1): the operations team extends the similar-proposal lexicon in the console.

A colloquial word the lexicon does not know (爆肝, overworked) hides a proposal from a query that says
the same thing in the lexicon's words (超時工作, a word of 加班).  The team adds the word through the
console's form; the real search then finds the proposal, on PostgreSQL (the index: every proposal is
queued and analysed again) and on SQLite (the portable scan), as test_similar.py runs both.  Nothing
is cleared by hand: the search notices the new lexicon version by itself.
"""
from __future__ import annotations

import html
import os
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest

from models import similar
from models import similar_lexicon as lex
from models import similar_team_words as team_words
from models.events import AuditEvent
from models.proposals import SECONDING, Proposal, return_for_revision
from models.similar_team_words import SimilarMeta, SimilarTeamWord
from tests.factories import verified_official
from tests.fixtures_console import OPS_EMAIL, OPS_PASSWORD, console_login, csrf_token, enrol_two_factor

PAGE = "/console/similar-lexicon"
QUERY = "減少同仁超時工作"  # 超時工作 is a word of the concept 加班
TARGET = "基層天天爆肝沒人管"  # 爆肝 (overworked) is not, until the team adds it
DISTRACTORS = [
    ("市政大樓增設機車停車格", "機車停車格不足。"),
    ("學校午餐改用在地有機食材", "學校午餐採購在地有機蔬菜。"),
    ("辦公室冷氣溫度設定為二十六度", "夏季冷氣溫度。"),
    ("補休期限延長為一年", "補休期限太短。"),  # the same topic (差勤) as the query, another request
]
def proposal(title: str, content: str = "") -> Proposal:
    return Proposal.create(proposer=verified_official(), state=SECONDING, scope="internal", title=title,
                           content=content or f"{title}。", benefits="提升效率。", agency_by_ops=True)


@pytest.fixture
def backend(app, similar_backend):
    """The database the console and the search run on (PostgreSQL: the index; SQLite: the scan), the
    app made first, on the test database (tests/fixtures_app.py)."""
    return similar_backend


def _signed_in_ops(app):
    from models.staff import create_staff

    staff = create_staff(OPS_EMAIL, "ops", OPS_PASSWORD, display_name="陳專員")
    staff.password = OPS_PASSWORD
    enrol_two_factor(staff)
    client = app.test_client()
    assert console_login(client, OPS_EMAIL, OPS_PASSWORD).status_code == 302
    return staff, client


@pytest.fixture
def ops(app, backend):
    """(staff, client): an ops account on the test's database, signed in through the real form."""
    return _signed_in_ops(app)


@pytest.fixture
def pg_ops(app):
    """`ops` on PostgreSQL only (the index's queue)."""
    similar.ensure_search_index()
    return _signed_in_ops(app)


def add(client, word: str, concept: str = "", *, new_concept: str = "", topic: str = "", trial: str = ""):
    data = {"csrf_token": csrf_token(client, PAGE), "word": word, "concept": concept, "new_concept": new_concept,
            "topic": topic, "trial": trial}
    return client.post(PAGE, data=data)


def remove(client, word: str):
    row = SimilarTeamWord.get(SimilarTeamWord.word == word)
    return client.post(f"{PAGE}/{row.id}/remove", data={"csrf_token": csrf_token(client, PAGE)})


def found_titles(query: str = QUERY) -> list[str]:
    return [m.proposal.title for m in similar.find_similar_explained(query)]


def queued(db) -> int:
    return db.execute_sql(f'SELECT count(*) FROM "{similar.index.QUEUE}"').fetchone()[0]


def test_r9_1_4_a_word_added_in_the_console_finds_the_paraphrase_and_removing_it_misses_again(ops, backend):
    staff, client = ops
    for title, content in DISTRACTORS:
        proposal(title, content)
    target = proposal(TARGET)
    assert TARGET not in found_titles()  # the miss: 爆肝 means nothing to the search yet
    page = client.get(PAGE, query_string={"title": QUERY}).get_data(as_text=True)
    assert "沒有找到相似的提案。" in page and "超時工作" in page  # the trial panel reads the query

    response = add(client, "爆肝", "加班", trial=QUERY)

    assert response.status_code == 302 and "title=" in response.headers["Location"]
    row = SimilarTeamWord.get(SimilarTeamWord.word == "爆肝")
    assert (row.concept, row.topic, row.added_by_id) == ("加班", None, staff.id)
    found = similar.find_similar_explained(QUERY)
    assert [m.proposal.id for m in found][:1] == [target.id], [(m.proposal.title, m.score) for m in found]
    assert "加班" in found[0].reasons
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已將「爆肝」加入「加班」概念" in page
    assert TARGET in page.split('data-testid="trial-matches"')[1]  # the trial shows what the bot would show
    assert "附議中" in page and "相似之處：加班" in page

    assert remove(client, "爆肝").status_code == 302
    assert not SimilarTeamWord.select().exists()
    assert TARGET not in found_titles()  # the miss is back
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.subject_type == "similar_team_word")
               .order_by(AuditEvent.id)]
    assert actions == ["similar_word_added", "similar_word_removed"]


def test_r9_2_3_duplicates_found_in_review_are_listed_with_what_the_search_finds_now(ops, backend):
    """A proposal returned as a duplicate (R9.2.3) is a pair the search should have shown its proposer:
    the page searches it again with the lexicon in use, so a word added in the form turns 找不到 into
    找得到, for that row and for the share at the top."""
    _, client = ops
    for title, content in DISTRACTORS:
        proposal(title, content)
    original = proposal(QUERY)
    repeat = proposal(TARGET)
    Proposal.update(state="submitted").where(Proposal.id == repeat.id).execute()
    return_for_revision(repeat.id, "staff:test", "請改為附議原提案。", duplicate_of=original.id)
    page = client.get(PAGE).get_data(as_text=True)
    section = page.split('<section class="card" id="duplicates"')[1].split("</section>")[0]
    assert "最近 1 件中，目前的搜尋找得到 <strong>0</strong> 件" in section
    assert f"{repeat.number} {TARGET}" in section and f"{original.number} {QUERY}" in section
    assert "<strong>找不到</strong>" in section
    assert "此件讀到：沒有詞庫中的詞；其餘「基層爆肝沒人管」" in section  # the word to add is in plain sight
    assert "原提案讀到：「減少」→調降、「超時工作」→加班" in section
    assert f'href="/console/similar-lexicon?title={quote(TARGET)}#trial"' in section  # 試算此標題

    assert add(client, "爆肝", "加班").status_code == 302
    section = client.get(PAGE).get_data(as_text=True).split('<section class="card" id="duplicates"')[1].split("</section>")[0]
    assert "最近 1 件中，目前的搜尋找得到 <strong>1</strong> 件" in section
    assert "找得到（第 1 位；相似之處：加班" in section


def test_r9_2_3_no_duplicate_returns_yet(ops):
    _, client = ops
    page = client.get(PAGE).get_data(as_text=True)
    assert "目前沒有以重複為由退回的提案。" in page


def test_r9_1_4_a_new_concept_with_its_topic(ops, backend):
    _, client = ops
    for title, content in DISTRACTORS:
        proposal(title, content)
    target = proposal("放寬夏季服裝規定")
    assert target.title not in found_titles("夏天穿拖鞋上班")

    assert add(client, "穿拖鞋", "__new__", new_concept="服裝規定", topic="人事").status_code == 302
    refused = add(client, "服裝規定", "__new__", new_concept="服裝", topic="人事")  # the new concept's name is a word
    assert "「服裝規定」已在詞庫中，屬於「服裝規定」概念。" in refused.get_data(as_text=True)
    assert add(client, "短褲", "服裝規定").status_code == 302  # a second word joins the new concept

    assert [m.proposal.id for m in similar.find_similar_explained("夏天穿拖鞋上班")][:1] == [target.id]
    assert similar.read_title("短褲").concepts == (("短褲", "服裝規定", "人事"),)
    page = client.get(PAGE, query_string={"q": "服裝"}).get_data(as_text=True)
    assert "營運小組新增的概念" in page and "陳專員" in page and 'data-concept="國民旅遊卡"' not in page

    remove(client, "穿拖鞋")  # the concept keeps its topic through its other word
    assert SimilarTeamWord.get(SimilarTeamWord.word == "短褲").topic == "人事"
    assert team_words.current().topics["服裝規定"] == "人事"
    assert "穿拖鞋" not in team_words.current().words


BAD_INPUT = [  # (form fields, the zh-TW answer)
    ({"word": "", "concept": "加班"}, "請輸入詞語。"),
    ({"word": "   ", "concept": "加班"}, "請輸入詞語。"),
    ({"word": "班", "concept": "加班"}, "詞語至少要兩個字"),
    ({"word": "加" * 21, "concept": "加班"}, "詞語最多 20 個字。"),
    ({"word": "爆肝！", "concept": "加班"}, "詞語只能包含中文字、英文字母或數字"),
    ({"word": "爆 肝", "concept": "加班"}, "詞語只能包含中文字、英文字母或數字"),
    ({"word": "<b>爆肝</b>", "concept": "加班"}, "詞語只能包含中文字、英文字母或數字"),
    ({"word": "😀😀", "concept": "加班"}, "詞語只能包含中文字、英文字母或數字"),
    ({"word": "國旅卡", "concept": "加班"}, "「國旅卡」已在詞庫中，屬於「國民旅遊卡」概念。"),
    ({"word": "一直加班", "concept": "休假"}, "「一直加班」在搜尋時讀作「加班」，已在詞庫中，屬於「加班」概念。"),
    ({"word": "一直", "concept": "加班"}, "去掉口語贅字"),
    ({"word": "爆肝", "concept": ""}, "請選擇詞語所屬的概念"),
    ({"word": "爆肝", "concept": "不存在的概念"}, "詞庫中沒有「不存在的概念」概念"),
    ({"word": "爆肝", "concept": "__new__", "new_concept": "服裝規定", "topic": ""}, "新增概念時請填寫主題"),
    ({"word": "爆肝", "concept": "__new__", "new_concept": "", "topic": "差勤"}, "請輸入新概念的名稱。"),
    ({"word": "爆肝", "concept": "__new__", "new_concept": "加班費", "topic": "差勤"}, "「加班費」已是詞庫中的概念"),
    ({"word": "爆肝", "concept": "__new__", "new_concept": "超勤", "topic": "差勤"}, "已是「加班」概念的詞語"),
    ({"word": "爆肝", "concept": "__new__", "new_concept": "服裝規定", "topic": "差勤！"}, "主題只能包含中文字"),
]


@pytest.mark.parametrize("fields,message", BAD_INPUT, ids=[f"{c[0]['word']}|{c[0]['concept']}" for c in BAD_INPUT])
def test_r9_1_4_bad_input_is_answered_in_zh_tw_and_nothing_changes(ops, backend, db, fields, message):
    _, client = ops
    proposal(TARGET)
    similar.find_similar_explained(QUERY)  # the queue drained, the lexicon loaded
    before = (team_words.stored_version(), queued(db) if backend == "postgresql" else 0, lex.lexicon())

    response = add(client, **fields)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'role="alert"' in page
    assert html.escape(fields["word"].strip()) in page  # what was typed stays in the form
    assert not SimilarTeamWord.select().exists()
    assert not AuditEvent.select().where(AuditEvent.subject_type == "similar_team_word").exists()
    assert (team_words.stored_version(), queued(db) if backend == "postgresql" else 0) == before[:2]
    similar.find_similar_explained(QUERY)
    assert lex.lexicon() is before[2]  # no reload: nothing changed


def test_r9_1_4_a_team_word_cannot_be_added_twice(ops, backend):
    _, client = ops
    assert add(client, "爆肝", "加班").status_code == 302
    response = add(client, "爆肝", "休假")
    assert response.status_code == 400
    assert "「爆肝」已在詞庫中，屬於「加班」概念。" in response.get_data(as_text=True)
    assert SimilarTeamWord.select().count() == 1


def test_r9_1_4_agency_staff_may_not_see_or_change_the_lexicon(app, agency_client, db):
    for response in (agency_client.get(PAGE), agency_client.get(PAGE, query_string={"title": QUERY})):
        assert response.status_code == 403
        assert "您的帳號沒有使用這個頁面的權限。" in response.get_data(as_text=True)
    token = csrf_token(agency_client, "/console/password")
    assert agency_client.post(PAGE, data={"csrf_token": token, "word": "爆肝", "concept": "加班"}).status_code == 403
    assert not SimilarTeamWord.select().exists()
    home = agency_client.get("/console/").get_data(as_text=True)
    assert PAGE not in home


def test_r9_1_4_the_page_lists_every_concept_and_tells_file_and_team_words_apart(ops, backend):
    staff, client = ops
    add(client, "爆肝", "加班")
    page = client.get(PAGE).get_data(as_text=True)
    concepts = {concept for _, concept, _ in lex.file_entries()}
    assert all(f'data-concept="{concept}"' in page for concept in concepts)
    overtime = page.split('data-concept="加班"')[1].split("</tr>")[0]
    assert "超時工作" in overtime.split("</td>")[2]  # a file word, in the file's column
    assert "爆肝" in overtime.split("</td>")[3] and "陳專員" in overtime and "移除" in overtime
    assert f'action="{PAGE}/' in overtime  # the remove button, a form with its CSRF token
    assert 'name="csrf_token"' in overtime
    assert "placeholder" not in page
    filtered = client.get(PAGE, query_string={"q": "國旅"}).get_data(as_text=True)
    assert 'data-concept="國民旅遊卡"' in filtered and 'data-concept="加班"' not in filtered
    assert PAGE in client.get("/console/").get_data(as_text=True)  # linked from the ops navigation and home


def test_r9_1_4_removing_needs_the_csrf_token(ops, backend):
    _, client = ops
    add(client, "爆肝", "加班")
    row = SimilarTeamWord.get(SimilarTeamWord.word == "爆肝")
    assert client.post(f"{PAGE}/{row.id}/remove").status_code == 400
    assert client.post(PAGE, data={"word": "過勞", "concept": "加班"}).status_code == 400
    assert [w.word for w in SimilarTeamWord.select()] == ["爆肝"]


# --- every process follows, and the stored features are rebuilt (PostgreSQL) ---------------------------

def test_r9_1_4_the_change_reaches_another_process_through_the_version(pg_ops, db):
    """Another process (a real one) adds the word; this process, whose lexicon is loaded and whose
    analyses are cached, finds the paraphrase at its next search: nothing here is cleared or reloaded
    by hand, only the version row tells it."""
    staff, _ = pg_ops
    target = proposal(TARGET)
    assert TARGET not in found_titles()
    loaded = lex.lexicon()
    assert "爆肝" not in loaded.words

    script = textwrap.dedent(f"""
        from models.base import connect_database
        from models.similar_lexicon_edits import add_word
        from models.staff import Staff
        connect_database({db.obj.platform_url!r})
        print(add_word(Staff.get_by_id({staff.id}), "爆肝", "加班"))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(os.path.dirname(__file__)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "已將「爆肝」加入「加班」概念" in done.stdout
    assert lex.lexicon() is loaded  # this process has not looked yet

    assert [m.proposal.id for m in similar.find_similar_explained(QUERY)][:1] == [target.id]
    assert lex.lexicon() is not loaded and lex.lexicon().words["爆肝"] == "加班"
    assert lex.lexicon().version == team_words.stored_version()


def test_r9_1_4_a_change_queues_every_proposal_and_the_sweep_rebuilds_them(pg_ops, db):
    _, client = pg_ops
    items = [proposal(title, content) for title, content in DISTRACTORS] + [proposal(TARGET)]
    similar.refresh()
    assert queued(db) == 0
    stored = f'SELECT features FROM "{similar.index.TABLE}" WHERE proposal_id = %s'
    assert "#加班" not in db.execute_sql(stored, (items[-1].id,)).fetchone()[0]

    add(client, "爆肝", "加班")

    assert queued(db) == len(items)  # every proposal, in the change's own transaction
    assert team_words.stored_version() == team_words.effective().version
    assert 'data-testid="pending"' in client.get(PAGE).get_data(as_text=True)
    # the deadlines sweep's step, as a worker runs it: analysed again, and (sentence model) their first vectors
    assert similar.catch_up() == len(items) * (1 + similar.vectors.enabled())
    assert queued(db) == 0
    assert "#加班" in db.execute_sql(stored, (items[-1].id,)).fetchone()[0]
    assert 'data-testid="pending"' not in client.get(PAGE).get_data(as_text=True)

    remove(client, "爆肝")
    assert queued(db) == len(items)
    similar.refresh()
    assert "#加班" not in db.execute_sql(stored, (items[-1].id,)).fetchone()[0]


def test_r9_1_4_migrate_keeps_the_team_words_version(pg_ops, db):
    """`flask db migrate` (ensure_search_index) builds the version from the file and the team's words:
    it does not queue every proposal again after a console change, nor forget the team's words."""
    _, client = pg_ops
    proposal(TARGET)
    add(client, "爆肝", "加班")
    similar.refresh()
    version = team_words.stored_version()
    similar.ensure_search_index()
    assert team_words.stored_version() == version and queued(db) == 0
    assert lex.lexicon().words["爆肝"] == "加班"
    assert SimilarMeta.get_by_id("lexicon").value == version


def test_r9_1_4_the_team_words_change_no_version_while_there_are_none():
    """Without team words the version is the file's, as before the console existed: deploying this
    does not queue every proposal again."""
    import hashlib

    text = lex.file_text()
    assert lex.parse_lexicon(text).version == hashlib.sha256(f"{lex.CODE_VERSION}\n{text}".encode()).hexdigest()[:12]
    assert lex.parse_lexicon(text, [lex.TeamWord("爆肝", "加班")]).version != lex.parse_lexicon(text).version


@pytest.fixture
def file_lists_the_team_word(monkeypatch):
    """A later deploy whose file lists 爆肝 under 過勞 (this process forgets it afterwards)."""
    shipped = lex.file_text()
    yield lambda: monkeypatch.setattr(lex, "file_text", lambda: shipped.replace("過勞、過度勞累", "過勞、爆肝、過度勞累"))
    monkeypatch.undo()
    lex.reload()


def test_r9_1_4_a_word_removed_twice_is_answered_and_a_file_word_shadowing_a_team_word_is_shown(
        ops, backend, file_lists_the_team_word):
    _, client = ops
    add(client, "爆肝", "加班")
    row_id = SimilarTeamWord.get(SimilarTeamWord.word == "爆肝").id
    token = csrf_token(client, PAGE)
    file_lists_the_team_word()  # the file's entry counts; the team's row stays until removed
    page = client.get(PAGE, query_string={"q": "爆肝"}).get_data(as_text=True)
    assert "詞庫檔已收錄於「過勞」，此列不再作用" in page
    assert team_words.effective().words["爆肝"] == "過勞"

    assert client.post(f"{PAGE}/{row_id}/remove", data={"csrf_token": token}).status_code == 302
    again = client.post(f"{PAGE}/{row_id}/remove", data={"csrf_token": token}, follow_redirects=True)
    assert "這個詞已不在詞庫中（可能已由其他同仁移除）。" in again.get_data(as_text=True)
    assert [e.action for e in AuditEvent.select().where(AuditEvent.subject_type == "similar_team_word")] == [
        "similar_word_added", "similar_word_removed"]
