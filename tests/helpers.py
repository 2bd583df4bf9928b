"""Helpers that drive the system from its edges, shared by the test modules."""
from __future__ import annotations

import datetime as dt
import html
import json
import threading
from urllib.parse import parse_qsl

from models.base import TAIPEI, to_utc_naive
from tests.fixtures_console import console_login

# --- signed links ---------------------------------------------------------------------------------

def forged(link: str) -> str:
    """The link with one character of its signature changed, so that it is never the real link.  The signature
    ends the link; it is the second-to-last character that changes: in base64 every character but the last
    carries only signature bits (the last may carry padding too, so rewriting only the end may give back the
    same signature, about one run in a thousand), and in hex every character does."""
    return link[:-2] + ("A" if link[-2] != "A" else "B") + link[-1]


# --- the clock: Asia/Taipei wall time and the naive UTC the domain stores ---------------------------

def taipei(*args) -> dt.datetime:
    """A Taipei wall-clock instant as the naive UTC the domain stores:
    ``taipei(2024, 3, 1, 9)`` or ``taipei("2026-01-30T10:00:00")``."""
    if len(args) == 1 and isinstance(args[0], str):
        wall = dt.datetime.fromisoformat(args[0])
    else:
        wall = dt.datetime(*args)
    return to_utc_naive(wall.replace(tzinfo=TAIPEI))


def iso_taipei(value: dt.datetime) -> str:
    """A naive-UTC instant as Taipei ISO text (what ``deadlines sweep --now`` takes)."""
    return value.replace(tzinfo=dt.UTC).astimezone(TAIPEI).isoformat()


def sweep(runner, when: str | dt.datetime) -> dict:
    """Run ``deadlines sweep --now when`` (Taipei ISO text, or a naive-UTC instant); its JSON report."""
    if isinstance(when, dt.datetime):
        when = iso_taipei(when)
    result = runner.invoke(args=["deadlines", "sweep", "--now", when])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


# --- a LINE user tapping and typing --------------------------------------------------------------

def quick_replies(message: dict) -> list[dict]:
    return [item["action"] for item in (message.get("quickReply") or {}).get("items", [])]


def tap(client, line, uid: str, label: str, message: dict | None = None):
    """Tap the quick reply (or flex/template button) with `label` on the bot's last message."""
    messages = [message] if message else list(reversed(line.messages(uid)))
    for msg in messages:
        for act in quick_replies(msg) + list(_buttons(msg)):
            if act.get("label") == label:
                if act["type"] == "postback":
                    return line.postback(client, uid, act["data"])
                if act["type"] == "message":
                    return line.text(client, uid, act["text"])
                raise AssertionError(f"{label} is a {act['type']} action")
    raise AssertionError(f"no button {label!r} in the last messages: {line.texts(uid)[-3:]}")


def _buttons(message: dict):
    def walk(node):
        if isinstance(node, dict):
            if "action" in node and isinstance(node["action"], dict) and node.get("type") == "button":
                yield node["action"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
    if message.get("type") in ("flex", "template"):
        yield from walk(message.get("contents") or message.get("template"))
        if message.get("type") == "template":
            yield from (message["template"].get("actions") or [])


def postback_params(action: dict) -> dict:
    return dict(parse_qsl(action["data"]))


def flex_texts(node) -> list[str]:
    out = []
    if isinstance(node, dict):
        if node.get("type") == "text":
            out.append(node.get("text", ""))
        for value in node.values():
            out += flex_texts(value)
    elif isinstance(node, list):
        for value in node:
            out += flex_texts(value)
    return out


# --- the console and the public pages --------------------------------------------------------------

def logged_in(app, email: str, password: str):
    client = app.test_client()
    assert console_login(client, email, password).status_code == 302
    return client


def page_text(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html.unescape(response.get_data(as_text=True))


def flashes(client) -> str:
    return html.unescape(client.get("/console/").get_data(as_text=True))


# --- data and registration -------------------------------------------------------------------------

def load_agencies():
    from models.agencies import import_agencies

    result = import_agencies("data/agencies.csv")
    assert not result.errors, result.errors
    return result


def start_registration(client, line, uid: str):
    """Tap 開始註冊 and accept the terms of use and privacy notice shown first (R4)."""
    tap(client, line, uid, "開始註冊")
    assert "使用條款與個人資料告知" in line.texts(uid)[-1]
    tap(client, line, uid, "同意並繼續")


def register(client, line, smtp, uid: str | None = None, *, email: str = "wang@taichung.gov.tw",
             name: str = "王小明", nickname: str = "西屯小幫手", agency: str = "研考會", unit: str = "綜合規劃組",
             verify: bool = True):
    """Walk a LINE user through registration; confirm the code by chat. Returns (uid, Official)."""
    from models.officials import Official

    uid = uid or line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, name)
    line.text(client, uid, nickname)
    tap(client, line, uid, "以暱稱顯示")
    line.text(client, uid, "0912-345-678")
    line.text(client, uid, email)
    line.text(client, uid, "臺中市西屯區臺灣大道三段99號")
    line.text(client, uid, agency)
    last = line.last(uid)
    first = quick_replies(last)[0]
    line.postback(client, uid, first["data"])
    line.text(client, uid, unit)
    tap(client, line, uid, "確認送出")
    if verify:
        line.text(client, uid, smtp.code_for(email))
    return uid, Official.get(Official.line_user_id == uid)


def at_once(app, work, n: int, timeout: float = 60) -> list:
    """Run `work()` in `n` threads released together (each with its own app context and database
    connection), as several schedulers or workers would; returns their results and re-raises the
    first error any of them met."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait()
                results.append(work())
        except Exception as exc:  # noqa: BLE001 - raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == n, "a thread did not finish"
    return results
