"""R9.1.4 with a sentence model (models.similar_vectors, issue 14): the bundled multilingual-e5-small by default,
another with SIMILAR_MODEL_DIR, none with SIMILAR_MODEL_DIR=off.

Most tests here use tests/data/tiny_bert (random weights; tests/test_similar_encoder.py checks it computes
what transformers computes).  It knows nothing of meaning, so the test of the fusion uses what it does know:
two titles made of characters outside its vocabulary are, to it, the same sentence ([UNK] tokens), while
they share no character for the lexicon.  That is the case the model exists for, a match with no word in
common, and it is deterministic.
"""
from __future__ import annotations

import hashlib
import os

import pytest

from models import similar
from models import similar_vectors as vectors
from models.proposals import SUBMITTED, Proposal
from tests.test_similar import proposal

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny_bert")
BACKGROUND = ["提高超勤津貼上限", "加班費每月上限太低應調整", "同事請假時找不到人幫忙處理業務", "改善職務代理人制度",
              "員工停車費太貴", "國民旅遊卡休假補助"]


@pytest.fixture
def model(db, monkeypatch):
    similar.ensure_search_index()
    monkeypatch.setattr(vectors, "MIN_ROWS", 4)  # the tiny background is enough to centre on
    vectors.configure(TINY)
    yield vectors  # tests/conftest.py puts the default back


def _vector_rows(db) -> dict[int, str]:
    return dict(db.execute_sql(f"SELECT proposal_id, title FROM {vectors.TABLE}").fetchall())


def test_r9_1_4_the_bundled_model_by_default_and_off_when_set_off(monkeypatch):
    assert vectors.directory_for(None) == vectors.BUNDLED
    assert os.path.exists(os.path.join(vectors.BUNDLED, "model.safetensors"))
    for off in ("off", "OFF", " off ", ""):
        assert vectors.directory_for(off) is None
    assert vectors.directory_for("/srv/models/m3e") == "/srv/models/m3e"
    monkeypatch.delenv("SIMILAR_MODEL_DIR", raising=False)
    import importlib
    fresh = importlib.reload(vectors)  # as a process starts
    try:
        assert fresh._STATE["dir"] == fresh.BUNDLED
        monkeypatch.setenv("SIMILAR_MODEL_DIR", "off")
        assert importlib.reload(vectors)._STATE["dir"] is None
    finally:
        monkeypatch.undo()  # the environment as it was, then the module as it was
        importlib.reload(vectors)


def test_r9_1_4_off_the_lexicon_alone_searches(db):
    similar.ensure_search_index()
    vectors.configure(None)
    assert not vectors.enabled() and similar.catch_up() == 0
    for title in BACKGROUND:
        proposal(title)
    proposal("鬱鬱蔥蔥")
    assert similar.find_similar("龘龘靐靐") == []  # nothing in common for the lexicon
    assert _vector_rows(db) == {}


def test_r9_1_4_a_proposal_sharing_no_word_is_found_through_the_model(db, model):
    for title in BACKGROUND:
        proposal(title)
    target = proposal("鬱鬱蔥蔥")
    assert similar.catch_up() == len(BACKGROUND) + 1 + len(BACKGROUND) + 1  # features, then the vectors

    found = similar.find_similar_explained("龘龘靐靐")  # the same unknown words, to the model
    assert [m.proposal.id for m in found] == [target.id]
    assert found[0].reasons == [similar.MEANING_REASON]
    assert found[0].score <= 1.0

    matrix = next(iter(vectors._MATRICES.values()))
    assert matrix.rows.shape[1] == 32 and matrix.size == len(BACKGROUND) + 1

    vectors.configure(None)  # the same query without the model
    assert similar.find_similar("龘龘靐靐") == []


def test_r9_1_4_new_vectors_are_read_by_their_stamp_through_an_index(db, model):
    indexes = [r[0] for r in db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", (vectors.TABLE,))]
    assert f"{vectors.TABLE}_stamp_idx" in indexes
    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    assert similar.find_similar("龘龘靐靐") == []
    late = proposal("鬱鬱蔥蔥")  # after this process read the vectors: read on its next search, not again all
    similar.catch_up()
    assert [p.id for p, _ in similar.find_similar("龘龘靐靐")] == [late.id]
    assert next(iter(vectors._MATRICES.values())).size == len(BACKGROUND) + 1


def test_r9_1_4_the_lexicon_match_still_comes_first_with_the_model(db, model):
    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    found = similar.find_similar_explained("超勤津貼上限")
    assert found and found[0].proposal.title == "提高超勤津貼上限"
    assert "超勤津貼" in "".join(found[0].reasons) or "加班費" in found[0].reasons


def test_r9_1_4_vectors_follow_new_edited_and_removed_titles(db, model):
    items = [proposal(title) for title in BACKGROUND]
    similar.catch_up()
    assert _vector_rows(db) == {p.id: p.title for p in items}
    assert vectors.catch_up() == 0

    Proposal.update(title="增設哺集乳室").where(Proposal.id == items[0].id).execute()
    newcomer = proposal("鬱鬱蔥蔥")
    assert vectors.catch_up() == 2  # the edited title and the new one
    assert _vector_rows(db)[items[0].id] == "增設哺集乳室" and newcomer.id in _vector_rows(db)

    Proposal.delete().where(Proposal.id == items[1].id).execute()
    assert items[1].id not in _vector_rows(db)
    assert items[1].id not in [p.id for p, _ in similar.find_similar(BACKGROUND[1])]


def test_r9_1_4_the_model_respects_the_states_searched(db, model):
    for title in BACKGROUND:
        proposal(title)
    in_review = proposal("鬱鬱蔥蔥", state=SUBMITTED)
    similar.catch_up()
    assert [m.proposal.id for m in similar.find_similar_explained("龘龘靐靐")] == [in_review.id]
    assert similar.find_similar("龘龘靐靐", states={"seconding"}) == []
    assert similar.find_similar("龘龘靐靐", exclude_id=in_review.id) == []


def test_r9_1_4_too_few_vectors_leave_the_model_unasked(db, model, monkeypatch):
    monkeypatch.setattr(vectors, "MIN_ROWS", 100)
    proposal("鬱鬱蔥蔥")
    similar.catch_up()
    assert vectors.start("龘龘靐靐") is None
    assert similar.find_similar("龘龘靐靐") == []


def test_r9_1_4_an_unreadable_model_leaves_the_lexicon_working(db, tmp_path, app):
    similar.ensure_search_index()
    vectors.configure(str(tmp_path))  # no model there
    try:
        item = proposal("提高超勤津貼上限")
        assert [p.id for p, _ in similar.find_similar("超勤津貼上限")] == [item.id]
        assert "cannot read the sentence model" in vectors.status()
        result = app.test_cli_runner().invoke(args=["db", "reindex-similar"])
        assert result.exit_code == 0 and "not in use (cannot read the sentence model" in result.output
    finally:
        vectors.configure(None)


def test_r9_1_4_the_backfill_command_embeds_every_title(db, model, app, monkeypatch):
    monkeypatch.setattr(vectors, "BATCH", 2)
    monkeypatch.setattr(vectors, "PROGRESS_EVERY", 4)  # 100,000 titles take about 20 minutes: it says how far
    items = [proposal(title) for title in BACKGROUND]
    result = app.test_cli_runner().invoke(args=["db", "reindex-similar"])
    assert result.exit_code == 0, result.output
    assert "similar-proposal vectors: 4 proposals embedded so far" in result.output
    assert (f"similar-proposal vectors: {len(items)} proposals embedded, each title and each title with its content "
            "(the model's layers run in onnxruntime)\n"
            in result.output)
    assert set(_vector_rows(db)) == {p.id for p in items}


def test_r9_1_4_the_lexicon_console_says_whether_the_model_is_in_use(db, app, tmp_path, monkeypatch):
    from tests.test_similar_lexicon_console import PAGE, _signed_in_ops

    similar.ensure_search_index()
    _, client = _signed_in_ops(app)

    def status_line():
        page = client.get(PAGE).get_data(as_text=True)
        return page.split('data-testid="model-status">', 1)[1].split("</p>", 1)[0]

    assert status_line().startswith("語意模型：使用中（內建的 multilingual-e5-small，已依公務同仁提案用語微調）")  # the bundled one
    vectors.configure(None)
    assert status_line().startswith("語意模型：未啟用")
    monkeypatch.setattr(vectors, "MIN_ROWS", 4)
    vectors.configure(TINY)
    try:
        for title in BACKGROUND:
            proposal(title)
        assert "尚有 6 件等待計算" in status_line()
        similar.catch_up()
        line = status_line()
        assert f"使用中（{TINY}）" in line and "已計算 6 件提案的向量（標題，及標題連同內容）" in line and "等待計算" not in line
        vectors.configure(str(tmp_path))
        assert "已設定但無法使用" in status_line() and f"無法讀取 SIMILAR_MODEL_DIR 指定的模型（{tmp_path}）" in status_line()
        monkeypatch.setenv("SIMILAR_MODEL_ENGINE", "gpu")  # a readable model, an engine that does not exist
        vectors.configure(TINY)
        assert "已設定但無法使用" in status_line() and "SIMILAR_MODEL_ENGINE 的設定值無效" in status_line()
    finally:
        vectors.configure(None)


def test_r9_1_4_a_failing_model_leaves_the_lexicon_list_as_it_was(db, model, monkeypatch, caplog):
    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    expected = similar.find_similar("超勤津貼上限")
    vectors.configure(None)
    lexicon_alone = similar.find_similar("超勤津貼上限")
    vectors.configure(TINY)

    def broken(*args, **kwargs):
        raise MemoryError("no room for the query")

    monkeypatch.setattr(type(vectors.encoder()), "encode", broken)
    assert similar.find_similar("超勤津貼上限") == lexicon_alone
    assert "the sentence model failed" in caplog.text
    assert expected and expected[0][0].id == lexicon_alone[0][0].id


def test_r9_1_4_a_worker_loads_the_model_and_vectors_as_it_starts(db, model):
    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    vectors.configure(TINY)  # a fresh process: nothing loaded
    assert vectors._STATE["encoder"] is None and not vectors._MATRICES
    assert vectors.warm() is True
    assert vectors._STATE["encoder"] is not None
    assert next(iter(vectors._MATRICES.values())).size == len(BACKGROUND)
    vectors.configure(None)
    assert vectors.warm() is False


def test_r9_1_4_a_gunicorn_worker_loads_the_model_and_vectors_before_its_first_request(app, model):
    """deploy/gunicorn.conf.py's post_worker_init, as gunicorn calls it with the app it has just loaded: a
    console page's similar proposals do not wait for the model after each start."""
    import runpy
    from types import SimpleNamespace

    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    vectors.configure(TINY)  # a fresh process: nothing loaded
    assert vectors._STATE["encoder"] is None and not vectors._MATRICES
    config = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "deploy", "gunicorn.conf.py"))
    config["post_worker_init"](SimpleNamespace(wsgi=app))
    assert vectors._STATE["encoder"] is not None
    assert next(iter(vectors._MATRICES.values())).size == len(BACKGROUND)


def test_r9_1_4_with_the_model_the_lexicon_page_says_so_and_its_trial_explains_a_meaning_match(
        app, page, live_server, ops_staff, monkeypatch):
    """In Chromium, with axe: the ops team sees the model in use and, in the trial panel, a proposal found by the
    model alone, marked 語意相近.  Screenshots under /tmp/vector-shots/ for people to look at."""
    from playwright.sync_api import expect

    from tests.fixtures_console import browser_login
    from tests.test_accessibility import visit

    shots = "/tmp/vector-shots"
    os.makedirs(shots, exist_ok=True)
    similar.ensure_search_index()
    monkeypatch.setattr(vectors, "MIN_ROWS", 4)
    vectors.configure(TINY)
    try:
        for title in BACKGROUND:
            proposal(title)
        proposal("鬱鬱蔥蔥")
        similar.catch_up()
        browser_login(page, live_server, ops_staff.email, ops_staff.password)
        visit(page, live_server.url + "/console/similar-lexicon?title=龘龘靐靐", "相似提案詞庫")
        expect(page.get_by_test_id("model-status")).to_contain_text("語意模型：使用中")
        expect(page.get_by_test_id("model-status")).to_contain_text("已計算 7 件提案的向量（標題，及標題連同內容）")
        expect(page.get_by_test_id("trial-matches")).to_contain_text("鬱鬱蔥蔥")
        expect(page.get_by_test_id("trial-matches")).to_contain_text("相似之處：語意相近")
        page.locator(".page-head").screenshot(path=f"{shots}/1-model-status.png")
        page.locator("#trial").screenshot(path=f"{shots}/2-trial-meaning-match.png")
    finally:
        vectors.configure(None)


def test_r9_1_4_a_query_compares_with_the_rows_there_were_when_it_started(db, model, monkeypatch):
    """gunicorn runs threads: another request may read new vectors into the shared matrix, even growing it,
    while a query computes; the query keeps to the rows it started with."""
    monkeypatch.setattr(vectors, "SPARE_ROWS", 2)
    items = [proposal(title) for title in BACKGROUND]
    similar.catch_up()
    query = vectors.start("提高超勤津貼上限")
    query.thread.join()
    matrix = query.matrix
    newcomers = [proposal(f"新提案{n}號鬱鬱") for n in range(len(matrix.ids))]  # enough to grow the matrix
    similar.catch_up()
    vectors._matrix()
    assert matrix.size == len(items) + len(newcomers) and len(matrix.ids) > query.size
    found = query.scores([items[0].id, newcomers[-1].id], nearest=100)
    assert set(found) == {p.id for p in items}  # the rows it started with, all of them, and nothing else
    assert found[items[0].id] == pytest.approx(1.0, abs=1e-3)  # the matrix is float16


@pytest.mark.parametrize("text", ["", "假", "😀😀😀", "🙏🏻公文", "a", "ｘ" * 10_000, "加班" * 5_000,
                                  "Line群組 加班費 overtime pay 上限 100%！", "\x00\u202e\ufeff", "臺" * 10_000])
def test_r9_1_4_bad_input_with_the_model_returns_a_list(db, model, text):
    for title in BACKGROUND:
        proposal(title)
    similar.catch_up()
    found = similar.find_similar_explained(text, text)
    assert isinstance(found, list) and len(found) <= 5 and all(0 < m.score <= 1.0 and m.reasons for m in found)


def test_r9_1_4_one_process_embeds_at_a_time(db, model):
    """Readers take new vectors by increasing stamp, so two writers committing out of order could hide a
    vector from a process that read in between: a second sweep or backfill waits for the next minute."""
    import psycopg2

    for title in BACKGROUND:
        proposal(title)
    similar.refresh()
    other = psycopg2.connect(dbname=db.obj.database, **db.obj.connect_params)
    try:
        other.autocommit = True
        other.cursor().execute("SELECT pg_advisory_lock(%s)", (vectors.WRITER_LOCK,))  # a backfill elsewhere
        assert vectors.catch_up() == 0 and _vector_rows(db) == {}
        other.cursor().execute("SELECT pg_advisory_unlock(%s)", (vectors.WRITER_LOCK,))
        assert vectors.catch_up() == len(BACKGROUND)
        cursor = other.cursor()
        cursor.execute("SELECT pg_try_advisory_lock(%s)", (vectors.WRITER_LOCK,))
        assert cursor.fetchone()[0] is True  # catch_up released the lock: the other session takes it
    finally:
        other.close()


def test_r9_1_4_new_fusion_settings_keep_the_vectors_and_a_new_conversion_does_not(tmp_path):
    import json
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(vectors.BUNDLED, copy)
    key = vectors._model_key(str(copy))
    assert key == vectors._model_key(vectors.BUNDLED)
    (copy / "README.md").write_text("更新說明", encoding="utf-8")
    settings = json.loads((copy / "similar_encoder.json").read_text(encoding="utf-8"))
    settings["fusion"] = {"weight": 1.25, "floor": 0.3, "min": 0.5}  # retuned: the vectors stay valid
    (copy / "similar_encoder.json").write_text(json.dumps(settings), encoding="utf-8")
    assert vectors._model_key(str(copy)) == key
    settings["convert"] = None  # the titles are read differently: every vector is computed again
    (copy / "similar_encoder.json").write_text(json.dumps(settings), encoding="utf-8")
    assert vectors._model_key(str(copy)) != key


def test_r9_1_4_new_weights_of_the_same_size_are_a_new_model(tmp_path):
    """A fine-tuned model keeps its base's shapes, so its files keep their sizes: the key reads the bytes, or
    the base model's stored vectors would be searched with the tuned model's queries."""
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(vectors.BUNDLED, copy)
    key = vectors._model_key(str(copy))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight
    weights.write_bytes(bytes(data))
    assert weights.stat().st_size == os.path.getsize(os.path.join(vectors.BUNDLED, "model.safetensors"))
    assert vectors._model_key(str(copy)) != key


def test_r9_1_4_the_score_shown_is_the_share_of_a_word_for_word_duplicates(db, model):
    """The console's 相似度: the fused score over a duplicate's (lexicon 1 + weight x (1 - floor)), so a strong
    match does not read 100 % as a duplicate does (the fused score itself exceeds 1)."""
    for title in BACKGROUND:
        proposal(title)
    target = proposal("鬱鬱蔥蔥")
    similar.catch_up()
    fusion = vectors.encoder().fusion
    full = 1.0 + fusion["weight"] * (1.0 - fusion["floor"])
    twin = similar.find_similar_explained(BACKGROUND[0])[0]
    assert twin.proposal.title == BACKGROUND[0] and twin.score == pytest.approx(1.0, abs=1e-3)
    meaning = similar.find_similar_explained("龘龘靐靐")[0]  # no word in common, the same sentence to the model
    assert meaning.proposal.id == target.id
    assert meaning.score == pytest.approx(fusion["weight"] * (1.0 - fusion["floor"]) / full, abs=1e-3)


def test_r9_1_4_the_half_precision_matrix_gives_the_stored_vectors_cosines(db, model):
    """The matrix is kept in float16 and compared by SimSIMD: the cosines are those of the float32 vectors
    stored, centred as the matrix centres them, to within 1e-3, and the best is the best."""
    import numpy as np

    titles = BACKGROUND + [f"{a}{b}" for a in ("調整", "增設", "檢討", "簡化", "補助") for b in
                           ("值班費", "停車位", "哺集乳室", "公文流程", "職務宿舍", "健康檢查", "差旅費")]
    for title in titles:
        proposal(title)
    similar.catch_up()
    similar.find_similar("加班費上限")  # reads the vectors into this process's matrix
    matrix = next(iter(vectors._MATRICES.values()))
    assert matrix.rows.dtype == np.float16 and matrix.size == len(titles)

    stored = dict(db.execute_sql(f"SELECT proposal_id, vector FROM {vectors.TABLE}").fetchall())
    exact_rows = matrix.centre(np.stack([np.frombuffer(bytes(stored[int(pid)]), dtype=np.float32)
                                         for pid in matrix.ids[: matrix.size]]))
    for text in ("加班費每月上限太低", "停車位不足", "龘龘靐靐"):
        query = matrix.centre(vectors.encoder().encode([text])[0])
        exact = exact_rows @ query
        fast = vectors._cosines(matrix.rows[: matrix.size], query)
        assert fast.shape == exact.shape and np.abs(fast - exact).max() < 1e-3
        assert exact[int(np.argmax(fast))] >= exact.max() - 1e-3  # the best, or one tied with it
    assert vectors._cosines(matrix.rows[:0], query).shape == (0,)


def test_r9_1_4_a_proposal_scores_the_higher_of_its_titles_and_its_contents_cosine(db, model):
    """A vague title whose content says what it asks is found by its content: each proposal's model cosine is
    the higher of its title's and its title-and-content's, each centred on its own mean, from the float32
    vectors stored to within the half precision's 1e-3."""
    import numpy as np

    for title in BACKGROUND:
        proposal(title)
    vague = proposal("鬱鬱蔥蔥", "加班費每月上限太低應調整")
    similar.catch_up()
    stored = {pid: (np.frombuffer(bytes(v), dtype=np.float32), np.frombuffer(bytes(c), dtype=np.float32), digest)
              for pid, v, c, digest in db.execute_sql(
                  f"SELECT proposal_id, vector, content_vector, content_digest FROM {vectors.TABLE}").fetchall()}
    assert stored[vague.id][2] == hashlib.md5("加班費每月上限太低應調整".encode()).hexdigest()
    titles, both = vectors.embedded(vectors.encoder(), [(vague.id, "鬱鬱蔥蔥", "加班費每月上限太低應調整")])
    assert np.array_equal(stored[vague.id][0], titles[0]) and np.array_equal(stored[vague.id][1], both[0])

    query = vectors.start("加班費每月上限太低應調整")
    found = query.scores([], nearest=100)
    matrix = query.matrix
    vector = vectors.encoder().encode([vectors.query_text("加班費每月上限太低應調整")], max_tokens=vectors.QUERY_TOKENS)[0]
    by_title, by_content = {}, {}
    for pid, (title_vector, content_vector, _) in stored.items():
        by_title[pid] = float(matrix.centre(title_vector) @ matrix.centre(vector))
        by_content[pid] = float(vectors.centred(content_vector, matrix.content_mean)
                                @ vectors.centred(vector, matrix.content_mean))
        assert found[pid] == pytest.approx(max(by_title[pid], by_content[pid]), abs=1e-3)
    assert by_content[vague.id] > by_title[vague.id] + 0.1  # its content, not its title, is what the query meets


def test_r9_1_4_vectors_follow_edited_contents(db, model):
    import numpy as np

    items = [proposal(title) for title in BACKGROUND]
    similar.catch_up()
    assert vectors.catch_up() == 0
    before = bytes(db.execute_sql(f"SELECT content_vector FROM {vectors.TABLE} WHERE proposal_id = %s",
                                  (items[0].id,)).fetchone()[0])
    Proposal.update(content="同事請假時找不到人幫忙處理業務").where(Proposal.id == items[0].id).execute()
    assert [row[0] for row in vectors.stale(10)] == [items[0].id]
    assert vectors.catch_up() == 1
    digest, title_vector, after = db.execute_sql(
        f"SELECT content_digest, vector, content_vector FROM {vectors.TABLE} WHERE proposal_id = %s",
        (items[0].id,)).fetchone()
    assert digest == hashlib.md5("同事請假時找不到人幫忙處理業務".encode()).hexdigest() and bytes(after) != before
    assert np.array_equal(np.frombuffer(bytes(title_vector), dtype=np.float32),
                          vectors.encoder().encode(["提高超勤津貼上限"])[0])  # the title's own vector, as before


def test_r9_1_4_a_table_of_title_vectors_alone_is_upgraded_and_computed_again(db, model):
    """A deployment from before keeps only the titles' vectors, without the two new columns: `db migrate`
    (ensure_table) adds them, and its rows, of the former key, are stale until computed again."""
    items = [proposal(title) for title in BACKGROUND]
    similar.catch_up()
    try:
        db.execute_sql(f"ALTER TABLE {vectors.TABLE} DROP COLUMN content_digest, DROP COLUMN content_vector")
        db.execute_sql(f"UPDATE {vectors.TABLE} SET model = 'a key of before'")
    finally:
        vectors.ensure_table()
    assert db.execute_sql(f"SELECT count(*) FROM {vectors.TABLE} WHERE content_vector IS NULL").fetchone()[0] == len(items)
    assert vectors.catch_up() == len(items)
    assert db.execute_sql(f"SELECT count(*) FROM {vectors.TABLE} WHERE content_vector IS NULL OR model <> %s",
                          (vectors._STATE["key"],)).fetchone()[0] == 0
    assert [m.proposal.title for m in similar.find_similar_explained("超勤津貼上限")][:1] == ["提高超勤津貼上限"]
