"""Issue 10 items 3-5 from the edge: headers on every response, zh-TW error pages (also in Chromium),
bounded ids, deeply nested JSON, and each LINE event of a batch on its own."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from devtools.line_standin import make_event
from models.events import LineEvent
from tests.factories import seconding_proposal, submitted_proposal
from tests.helpers import load_agencies

ERROR_TITLES = {400: "請求無法處理", 403: "沒有權限", 404: "找不到頁面", 410: "連結已失效", 413: "內容太大",
                429: "操作太頻繁", 500: "系統暫時發生問題"}


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _headers_ok(response, *, https: bool = False) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";")[0]
    assert "script-src" in csp or "default-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert ("Strict-Transport-Security" in response.headers) == https


def test_every_kind_of_response_carries_the_security_headers(client, line):
    proposal = seconding_proposal()
    responses = [
        client.get("/"), client.get(f"/proposals/{proposal.id}"), client.get("/open-data/proposals.json"),
        client.get("/consultations"), client.get("/console/login"), client.get("/agency/answer/forged"),
        client.get("/drafts/forged"), client.get("/no-such-page"), client.get("/healthz"),
        line.text(client, line.user(), "選單"),
    ]
    for response in responses:
        _headers_ok(response)
    over_https = client.get("/", base_url="https://platform.example")
    _headers_ok(over_https, https=True)
    assert "max-age=" in over_https.headers["Strict-Transport-Security"]


@pytest.mark.parametrize("path", ["/proposals/abc", "/proposals/99999999999999999999", "/proposals/2147483648",
                                  "/proposals/0", "/consultations/99999999999999", "/proposals/-1"])
def test_a_non_numeric_or_out_of_range_id_is_a_zh_tw_404(client, path):
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "找不到頁面" in page and 'href="/"' in page and "LINE" in page


def test_each_error_status_has_its_zh_tw_page_with_a_way_back(app, client):
    from flask import abort, request

    @app.get("/_probe/<int:code>")
    def _probe(code):
        if code == 500:
            raise RuntimeError("boom")
        abort(code)

    @app.post("/_probe/form")
    def _probe_form():
        return str(len(request.form))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    for code, title in ERROR_TITLES.items():
        if code == 413:
            app.config["MAX_CONTENT_LENGTH"] = 1024
            response = client.post("/_probe/form", data={"x": "y" * 4096})
        else:
            response = client.get(f"/_probe/{code}")
        page = response.get_data(as_text=True)
        assert response.status_code == code, code
        assert f"錯誤 {code}" in page and title in page and "回到平臺首頁" in page, code
        assert response.headers["Content-Type"].startswith("text/html")
        _headers_ok(response)


def test_a_deeply_nested_json_body_is_a_400_and_stores_nothing(client, line):
    nested = "[" * 100_000 + "]" * 100_000
    body = '{"destination":"U0","events":[' + nested + "]}"
    response = line.raw(client, body)
    assert response.status_code == 400 and LineEvent.select().count() == 0
    as_api = client.post("/dev/line/api/event", data=nested, content_type="application/json")
    assert as_api.status_code == 400


def test_a_malformed_event_fails_on_its_own_and_the_rest_of_the_batch_goes_on(client, line, app):
    uid, other, nobody = line.user(), line.user(), line.user()
    number_postback = make_event("postback", other, data="menu")
    number_postback["postback"]["data"] = 12345
    string_source = make_event("text", other, text="選單")
    string_source["source"] = "user"
    no_user = make_event("follow", nobody)
    del no_user["source"]["userId"]
    good = make_event("follow", uid)
    response = line.send(client, number_postback, string_source, no_user, good)
    assert response.status_code == 200
    rows = {row.webhook_event_id: row for row in LineEvent.select()}
    bad1, bad2 = rows[number_postback["webhookEventId"]], rows[string_source["webhookEventId"]]
    assert bad1.status == "failed" and bad1.last_error == "malformed: postback.data is int"
    assert bad2.status == "failed" and bad2.last_error == "malformed: source is str"
    ignored = rows[no_user["webhookEventId"]]
    assert ignored.status == "ignored" and "userId" in ignored.last_error
    assert rows[good["webhookEventId"]].status == "done"
    assert "歡迎" in line.texts(uid)[0]
    assert line.messages(other) == [] and line.messages(nobody) == []


def test_an_event_that_raises_is_recorded_and_the_next_event_is_answered(client, line, app, monkeypatch):
    import bot.dispatch as dispatch

    real = dispatch._route
    broken = line.user()

    def sometimes_broken(event, etype, ctx):
        if ctx.user_id == broken:
            raise KeyError("broken flow")
        return real(event, etype, ctx)

    monkeypatch.setattr(dispatch, "_route", sometimes_broken)
    uid = line.user()
    first, second = make_event("follow", broken), make_event("follow", uid)
    assert line.send(client, first, second).status_code == 200
    failed = LineEvent.get(LineEvent.webhook_event_id == first["webhookEventId"])
    assert failed.status == "pending" and failed.last_error.startswith("KeyError at ")
    assert "broken flow" not in failed.last_error
    assert LineEvent.get(LineEvent.webhook_event_id == second["webhookEventId"]).status == "done"
    assert "歡迎" in line.texts(uid)[0]


def test_the_similar_carousel_describes_an_in_review_proposal_instead_of_linking_to_a_404(app):
    from bot.proposal_cards import similar_carousel
    from models.similar import Match

    in_review, public = submitted_proposal(title="檢核中的提案"), seconding_proposal(title="附議中的提案")
    flex = similar_carousel([Match(in_review, 0.9), Match(public, 0.8)], "http://localhost", [])
    bubbles = flex["contents"]["contents"]
    text = json.dumps(bubbles[0], ensure_ascii=False)
    assert "/proposals/" not in text and "檢核中" in text
    assert f"/proposals/{public.id}" in json.dumps(bubbles[1])


def test_the_404_page_in_chromium_is_styled_within_the_policy_and_leads_home(live_server, page):
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    proposal = seconding_proposal(title="彈性上班試辦")
    page.goto(f"{live_server.url}/proposals/{proposal.id}")
    expect(page.get_by_test_id("progress")).to_contain_text("0 / 200")
    page.goto(f"{live_server.url}/proposals/99999999999")
    expect(page.get_by_test_id("error-page")).to_contain_text("找不到頁面")
    assert page.eval_on_selector("header.site", "el => getComputedStyle(el).backgroundColor") == "rgb(255, 255, 255)"
    page.get_by_test_id("error-home").click()
    expect(page.get_by_text("彈性上班試辦")).to_be_visible()
    assert violations == []


@pytest.mark.parametrize("path", ["/agency/answer/forged", "/agency/respond/forged", "/recognition/consent/forged"])
def test_signed_link_pages_are_never_cached_referred_or_framed(client, path):
    """The token is in the URL: the pages it opens (even their error pages) say no-store and no-referrer."""
    response = client.get(path)
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["X-Frame-Options"] == "DENY"
