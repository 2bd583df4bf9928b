"""Every input from outside, wrong or hostile, on every route, form and chat state we can reach.

The other tests try the bad input each feature expects. These sweep the whole surface instead, so that a
route, a form or a conversation step added later is tried too: every GET route with hostile query
values, every console form (found by following the console's own links as ops and as agency staff) with
hostile field values, and seeded random walks through the chat that tap what the bot offers, type
anything and send postbacks with their parameters mangled. Each answer must be a page, a refusal or a
chat reply in zh-TW: never a server error, never WTForms' or Werkzeug's English, never a LINE event
left failed for the operations team to retry (what the sweeps found first: `?q=%00` a 500 on the public
list and the officials list, 「Not a valid choice.」 on a consultation with a stale agency, and
`a=sec.ask&p=2147483648` an event that failed five times on PostgreSQL's integer range).
"""
from __future__ import annotations

import datetime as dt
import random
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlparse

import pytest
from werkzeug.exceptions import HTTPException

from bot.proposal_cards import draft_token
from models import consultations
from models.agencies import Agency
from models.calendar import today_taipei
from models.consultations import Consultation
from models.events import LineEvent
from models.proposals import Proposal, start_draft
from models.seconds import Second, send_establishment_notices
from tests.factories import seconding_proposal, submitted_proposal, verified_official
from tests.fixtures_console import console_post, ensure_agencies
from tests.helpers import _buttons, quick_replies
from tests.test_agency_respond import established_today
from tests.test_responses import established

ENGLISH_PAGE = re.compile(r"Internal Server Error|Not Found|Bad Request|Method Not Allowed|Traceback|Werkzeug|"
                          r"This field is required|Not a valid|Invalid (?:choice|date|input)|Field must")
ENGLISH_CHAT = re.compile(r"Traceback|Exception|Error|error|\bNone\b|undefined|\{\w+\}")
NUL, LONG = "\x00", "長" * 5000
QUERY_VALUES = [NUL, LONG, "-1", "99999999999999999999", "<script>alert(1)</script>", "\u202e\ufeff"]
# Every name a view reads from the query string (grep "args.get"), all at once: each view reads its own.
QUERY_NAMES = ["q", "page", "state", "year", "done", "user", "decision", "title", "after", "next", "order"]
PATH_VALUES = ["1", "2147483647", "x" * 300, "%00"]
FORM_VALUES = [NUL, "x" * 20000, "-1", "2026-13-45"]


def _html_problem(response) -> str | None:
    if response.status_code >= 500:
        return f"status {response.status_code}"
    body = response.get_data(as_text=True)
    found = ENGLISH_PAGE.search(body) if "text/html" in response.headers.get("Content-Type", "") else None
    return f"English on the page: {found.group(0)!r}" if found else None


def _get_urls(app):
    """Each GET route once per sample path value (all its arguments alike)."""
    skip = ("static", "health.healthz_full")  # /healthz/full is 503 without a worker: by design
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in skip or "logout" in rule.rule:
            continue
        for value in PATH_VALUES if rule.arguments else [""]:
            yield re.sub(r"<(?:[a-z]+:)?\w+>", value, rule.rule)


@pytest.mark.parametrize("who", ["anonymous", "ops"])
def test_every_get_route_answers_hostile_query_strings_without_error_or_english(app, request, who):
    client = app.test_client() if who == "anonymous" else request.getfixturevalue("ops_client")
    problems = []
    for url in _get_urls(app):
        for value in QUERY_VALUES:
            target = url + "?" + urlencode(dict.fromkeys(QUERY_NAMES, value))
            problem = _html_problem(client.get(target))
            if problem:
                problems.append((url, repr(value[:12]), problem))
    assert not problems, problems[:20]


def test_a_nul_in_a_search_is_refused_in_zh_tw_and_the_search_still_works(app, client):
    """PostgreSQL text takes no U+0000: before, the public list's search was a 500."""
    ensure_agencies()
    seconding_proposal(title="推動公文線上簽核全面無紙化")
    refused = client.get("/?q=%E5%85%AC%E6%96%87%00")
    assert refused.status_code == 400
    assert "請求無法處理" in refused.get_data(as_text=True)
    found = client.get("/?q=公文")
    assert found.status_code == 200 and "推動公文線上簽核全面無紙化" in found.get_data(as_text=True)


class _Page(HTMLParser):
    """The forms (action, method, fields with their values) and links of one page."""

    def __init__(self):
        super().__init__()
        self.forms, self.links, self._form = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "form":
            self._form = {"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(), "fields": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select") and attrs.get("name"):
            unchecked = attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs
            if not unchecked or attrs["name"] not in self._form["fields"]:
                self._form["fields"][attrs["name"]] = "" if unchecked else attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def _read(client, url) -> _Page:
    page = _Page()
    response = client.get(url)
    if response.status_code == 200 and "text/html" in response.headers.get("Content-Type", ""):
        page.feed(response.get_data(as_text=True))
    return page


def _console_forms(client, limit: int = 80):
    """(page, form) for every POST form on the console pages reachable from /console/ by links."""
    seen, queue, forms = set(), ["/console/"], []
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = _read(client, url)
        forms += [(url, form) for form in page.forms if form["method"] == "post"]
        for link in page.links:
            target = urlparse(urljoin(url, link))
            path = target.path + (f"?{target.query}" if target.query else "")
            if target.netloc in ("", "localhost") and target.path.startswith("/console") and "logout" not in path \
                    and not target.path.endswith(".csv") and path not in seen:
                queue.append(path)
    return forms


# Actions that would end the session under test rather than answer a form.
SESSION_ENDING = ("logout", "two-factor/disable", "/disable", "reset-2fa")


def _form_kind(routes, action: str, form: dict) -> tuple:
    """What makes two forms the same form: the view they post to (`routes`: the app's URL map, bound) and their
    fields.  The same form on another row's page (each agency's, say) is posted once, not once a row: the view
    and its validation are the same."""
    try:
        endpoint = routes.match(action, method="POST")[0]
    except HTTPException:  # no such route (or not for POST): the action itself is what is tried
        endpoint = action
    return endpoint, tuple(sorted(form["fields"]))


def _hostile_posts(client, forms) -> list[tuple]:
    """Each field of each form posted with each of FORM_VALUES, the rest as the page filled them, with a
    fresh CSRF token; the problems found."""
    problems, tried, kinds = [], set(), set()
    routes = client.application.url_map.bind("localhost")
    for page_url, form in forms:
        action = urlparse(urljoin(page_url, form["action"] or page_url)).path
        if any(word in action for word in SESSION_ENDING):
            continue
        kind = _form_kind(routes, action, form)
        if kind in kinds:
            continue
        kinds.add(kind)
        for name in form["fields"]:
            for value in FORM_VALUES if not name.endswith("csrf_token") else []:
                if (action, name, value) in tried:
                    continue
                tried.add((action, name, value))
                fresh = {key: val for f in _read(client, page_url).forms for key, val in f["fields"].items()
                         if key.endswith("csrf_token") and val}
                data = {**form["fields"], **fresh, name: value}
                problem = _html_problem(client.post(action, data=data))
                if problem:
                    problems.append((action, name, repr(value[:12]), problem))
    return problems


@pytest.mark.parametrize("who", ["ops", "agency"])
def test_every_console_form_answers_hostile_values_without_error_or_english(app, request, who):
    ensure_agencies()
    submitted_proposal(verified_official())
    seconding_proposal(verified_official())
    established(agency="CIVIL")  # the response page's forms (the agency fixture's account is CIVIL's)
    client = request.getfixturevalue(f"{who}_client")
    forms = _console_forms(client)
    assert len(forms) > 20  # the crawl reached the console's forms, the response page's among them
    assert any("/publish" in (form["action"] or page) for page, form in forms) or who == "ops"
    problems = _hostile_posts(client, forms)
    assert not problems, problems[:20]


def test_the_forms_behind_signed_links_answer_hostile_values_without_error_or_english(app, client, smtp):
    """The official's draft form (from the chat) and the agency's response page (from its notice):
    pages without a console login, reached by a signed link only."""
    ensure_agencies()
    official = verified_official()
    draft = start_draft(official)
    _proposal, now = established_today()  # CIVIL's, its notice due today
    assert send_establishment_notices(now) == 1
    address = Agency.get(Agency.code == "CIVIL").contact_email
    respond = re.search(r"http://localhost(/agency/respond/\S+)", smtp.body(smtp.last_to(address))).group(1)
    pages = [f"/drafts/{draft_token(app.config['SECRET_KEY'], official.id, draft.id)}", respond]
    forms = [(url, form) for url in pages for form in _read(client, url).forms if form["method"] == "post"]
    assert len(forms) >= 3  # the draft form and the response page's forms
    problems = _hostile_posts(client, forms)
    assert not problems, problems[:20]


def test_a_choice_no_longer_offered_is_refused_in_zh_tw(app, agency_client):
    """A stale page (an agency renamed since it loaded) posts a choice the form no longer has. WTForms'
    own message for it came out in English; webapp.form gives every form its zh_TW catalogue, and words
    this one for its cause here: the list changed since the page loaded, which a reload mends."""
    ensure_agencies()
    fields = {"agency_code": "NO-SUCH-AGENCY", "title": "試辦彈性上班時間", "background": "各局處上下班時間不一，同仁通勤不便。",
              "questions": "是否贊成試辦彈性上班？", "scope": "internal", "basis": next(iter(consultations.BASES)),
              "stage": next(iter(consultations.STAGES)), "closes_on": (today_taipei() + dt.timedelta(days=10)).isoformat()}
    response = console_post(agency_client, "/console/consultations/new", {f"c-{k}": v for k, v in fields.items()},
                            token_from="/console/consultations/new")
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400) and "這個選項已不在清單中" in page and "重新整理" in page
    assert "Not a valid" not in page
    assert Consultation.select().count() == 0


# --- the chat -------------------------------------------------------------------------------------

MENU = ["prop.start", "sec.browse", "prop.mine", "sec.mine", "con.browse", "profile.show", "menu.help", "menu"]
CHAT_TEXTS = [NUL, "😀😀😀", "a", "x" * 10000, "<script>alert(1)</script>", "臺中 Taichung ＡＢＣ", "   ", "\u202etext",
              "加班費太少了", "取消", "說明", "123456", "%00", "附議列表 第 9999 頁"]


def _mangled(data: str, rng: random.Random) -> str:
    params = dict(parse_qsl(data, keep_blank_values=True))
    keys = [key for key in params if key != "a"]
    choice = rng.randrange(6)
    if choice == 0 and keys:
        params[rng.choice(keys)] = rng.choice(["0", "-1", "2147483648", "99999999999999999999", "abc", NUL, "1" * 300])
    elif choice == 1 and keys:
        params.pop(rng.choice(keys))
    elif choice == 2:
        params["a"] = params.get("a", "") + rng.choice(["x", "."])
    elif choice == 3:
        params[rng.choice(["p", "id", "f", "v", "page"])] = rng.choice(["1", "2", "999"])
    elif choice == 4:
        return f"{data}&{data}"
    else:
        return rng.choice(["", "a=", "%%%", "a=prop.start&" + "z=1&" * 500])
    return urlencode(params)


def _emailed_code(smtp, address: str) -> str | None:
    """The code in the last email to `address`, as the official would copy it into the chat."""
    found = smtp.to(address)
    code = re.search(r"認證碼是：(\d{6})", smtp.body(found[-1])) if found else None
    return code.group(1) if code else None


def _next_input(rng: random.Random, offered: list[dict], menu: list[str], texts: list[str], code: str | None,
                wander: float) -> tuple[str, str]:
    """A tap on what the bot offers, or (each with probability `wander`) a menu entry, typed text or a
    mangled postback; now and then the last emailed code, typed again and again."""
    roll = rng.random()
    postbacks = [act for act in offered if act.get("type") == "postback"]
    if code and roll > 0.9:
        return "text", code
    if roll < wander or not offered:
        return "postback", "a=" + rng.choice(menu)
    if roll < 2 * wander:
        return "text", rng.choice(texts)
    if roll < 3 * wander and postbacks:
        return "postback", _mangled(rng.choice(postbacks)["data"], rng)
    act = rng.choice(offered)
    if act["type"] == "postback":
        return "postback", act["data"]
    return "text", act.get("text") or act.get("label") or "說明"


@pytest.mark.parametrize("who", ["verified", "new", "seconder"])
@pytest.mark.parametrize("seed", range(3))
def test_r3_0_random_walks_through_the_chat_are_always_answered_and_never_fail_an_event(app, client, line, smtp,
                                                                                       seed, who):
    """`verified`: any menu; `new`: from following the account, registration included; `seconder`: from
    the seconding list only, typing each emailed code as it comes, and again, and again. However the
    taps and codes come, each proposal's count is its seconds (R9.3.4: one official, one second)."""
    ensure_agencies()
    rng = random.Random(seed)
    other = verified_official()
    targets = [seconding_proposal(other, title=f"改善公務車派車流程第{n}案") for n in range(3)]
    email = f"walker{seed}@taichung.gov.tw"
    if who == "new":
        uid, menu, texts = line.user(), ["reg.start", *MENU], [*CHAT_TEXTS, email, "王小明", "0912345678"]
        line.follow(client, uid)
    else:
        official = verified_official(email=email)
        submitted_proposal(official, title="提高超勤津貼上限")
        uid, texts = official.line_user_id, CHAT_TEXTS
        menu = MENU if who == "verified" else ["sec.browse", "sec.mine"]
        if who == "seconder":  # one second made as the list offers it, so the walk starts with a used code
            line.postback(client, uid, "a=sec.browse")
            line.postback(client, uid, f"a=sec.confirm&p={targets[0].id}&notify=0")
            line.text(client, uid, _emailed_code(smtp, email))
            assert "附議完成" in line.texts(uid)[-1]
    wander = 0.05 if who == "seconder" else 0.15
    problems = []
    for step in range(100):
        recent = line.messages(uid)[-1 if who == "seconder" else -3:]  # the seconder taps the latest message
        offered = [act for message in recent for act in quick_replies(message) + list(_buttons(message))]
        offered = [act for act in offered if act.get("type") in ("postback", "message")]
        kind, payload = _next_input(rng, offered, menu, texts, _emailed_code(smtp, email), wander)
        before = len(line.messages(uid))
        response = line.postback(client, uid, payload) if kind == "postback" else line.text(client, uid, payload)
        event = LineEvent.select().order_by(LineEvent.id.desc()).first()
        answer = " ".join(line.texts(uid)[before:])
        if response.status_code != 200 or event.status != "done":
            problems.append((step, kind, payload[:60], response.status_code, event.status, (event.last_error or "")[:200]))
        elif len(line.messages(uid)) == before:
            problems.append((step, kind, payload[:60], "no answer"))
        elif ENGLISH_CHAT.search(answer):
            problems.append((step, kind, payload[:60], answer[:200]))
    assert not problems, problems[:10]
    proposals = list(Proposal.select())
    assert {p.id: p.second_count for p in proposals} == {p.id: p.seconds.count() for p in proposals}
    if who == "seconder":
        assert Second.select().where(Second.official == official.id).count() >= 1  # kept, whatever came after


@pytest.mark.parametrize("data", ["a=sec.ask&p=2147483648", "a=prop.withdraw&p=" + "1" * 40, "a=prop.cop&p=2147483648&v=yes",
                                  "a=prop.preview&p=-1"])
def test_r3_0_a_postback_id_past_the_integer_range_is_no_proposal_not_a_failed_event(app, client, line, data):
    ensure_agencies()
    official = verified_official()
    response = line.postback(client, official.line_user_id, data)
    event = LineEvent.select().order_by(LineEvent.id.desc()).first()
    assert response.status_code == 200 and event.status == "done", event.last_error
    assert line.texts(official.line_user_id)[-1]
