"""Issue 10 item 1: the deployment from its edge. Debian's nginx with deploy/nginx/ in front of
gunicorn with deploy/gunicorn.conf.py: who may reach which route, limits, static files, and the
service still answering /healthz and a signed webhook while 50 slow clients hold connections.
And a pg_dump of a populated database, restored into a fresh one, served."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.line_standin import make_body, make_event, new_user_id, sign
from models.events import LineEvent
from tests import deploy_stack
from tests.factories import seconding_proposal
from tests.fixtures_app import TEST_REDIS_URL
from tests.helpers import load_agencies


def _get(url: str, headers: dict | None = None, data: bytes | None = None, timeout: float = 60):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _signed_webhook(url: str, uid: str, timeout: float = 60):
    body = make_body([make_event("follow", uid)])
    return _get(url + "/line/webhook", data=body, timeout=timeout,
                headers={"Content-Type": "application/json", "X-Line-Signature": sign(body, deploy_stack.CHANNEL_SECRET)})


@pytest.fixture
def stack(schema, db, tmp_path):
    if not os.path.exists(deploy_stack.NGINX):
        message = "nginx not installed (apt-get install nginx; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    load_agencies()
    gunicorn, gport = deploy_stack.start_gunicorn(schema, TEST_REDIS_URL, tmp_path)
    try:
        nginx, nport = deploy_stack.start_nginx(tmp_path, gport, address_header=True)
    except Exception:
        deploy_stack.stop(gunicorn)
        raise
    yield f"http://127.0.0.1:{nport}", nport, f"http://127.0.0.1:{gport}"
    deploy_stack.stop(nginx)
    deploy_stack.stop(gunicorn)


INSIDE = {"X-Test-From": "10.1.2.3"}


def test_nginx_lets_the_internet_reach_only_the_hooks_links_and_health(stack):
    url, _port, _direct = stack
    outside = {}
    assert _get(url + "/healthz", outside)[0] == 200
    assert _signed_webhook(url, new_user_id())[0] == 200 and LineEvent.select().count() == 1
    for path in ("/console/login", "/dev/line", "/metrics", "/healthz/full", "/", "/proposals/1",
                 "/open-data/proposals.json"):
        assert _get(url + path, outside)[0] == 403, path
    assert _get(url + "/console/login", INSIDE)[0] == 200
    assert _get(url + "/", INSIDE)[0] == 200
    status, headers, body = _get(url + "/static/public.css", outside)
    assert status == 200 and b".progress" in body
    assert "Content-Security-Policy" not in headers  # nginx served it, not the app
    assert _get(url + "/line/webhook", outside)[0] == 403  # POST only
    too_big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert _get(url + "/line/webhook", {"Content-Type": "application/json", "X-Line-Signature": "x"},
                data=too_big)[0] == 413
    assert _get(url + "/healthz", outside)[1].get("X-Frame-Options") == "DENY"


def _zh_page(body: bytes, *words: str) -> bool:
    page = body.decode("utf-8")
    return 'lang="zh-Hant-TW"' in page and all(word in page for word in words) and "nginx" not in page


def test_nginx_answers_its_own_errors_with_zh_tw_pages_and_passes_the_apps_through(stack, tmp_path):
    """Before, a visitor outside the intranet, a body over the limit or an upgrade's restart met
    nginx's English pages ("403 Forbidden", "502 Bad Gateway")."""
    url, _port, _direct = stack
    status, headers, body = _get(url + "/console/login", {})
    assert status == 403 and _zh_page(body, "只開放內部網路使用", "VPN")
    assert headers.get("Content-Type", "").startswith("text/html")
    status, _, body = _get(url + "/line/webhook", {"Content-Type": "application/json", "X-Line-Signature": "x"},
                           data=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert status == 413 and _zh_page(body, "內容太大")
    status, _, body = _get(url + "/", {**INSIDE, "Cookie": "x=" + "a" * 20_000})
    assert status == 400 and _zh_page(body, "請求無法處理", "Cookie")
    status, _, body = _get(url + "/static/no-such-file.css", {})
    assert status == 404 and _zh_page(body, "找不到頁面")
    assert _get(url + "/_errors/error.html", INSIDE)[0] == 404  # the pages are for nginx's own use
    status, _, body = _get(url + "/proposals/2147483000", INSIDE)  # the app's own 404 passes through
    assert status == 404 and b'data-testid="error-page"' in body
    assert _get(url + "/static/public.css", {})[0] == 200  # what the pages style themselves with
    # Up to nginx's limits the app answers (gunicorn's lower ones, English, are lifted); past them, nginx.
    assert _get(url + "/?q=" + "%E8%87%BA" * 1500, INSIDE)[0] == 200  # 臺 1,500 times: a 13,500-byte line
    assert _get(url + "/", {**INSIDE, "X-Long": "b" * 12_000, **{f"X-N{i}": "1" for i in range(150)}})[0] == 200
    status, _, body = _get(url + "/?q=" + "a" * 17_000, INSIDE)
    assert status == 414 and _zh_page(body, "請求無法處理")

    down = tmp_path / "down"
    down.mkdir()
    nginx, port = deploy_stack.start_nginx(down, deploy_stack.free_port(), address_header=True)  # no app behind it
    try:
        status, _, body = _get(f"http://127.0.0.1:{port}/", INSIDE)
        assert status == 502 and _zh_page(body, "系統暫時無法回應", "稍候")
    finally:
        deploy_stack.stop(nginx)


def test_fifty_slow_clients_do_not_keep_healthz_or_the_webhook_waiting(stack):
    url, port, _direct = stack
    held = deploy_stack.slow_clients(port, 50)
    try:
        started = time.monotonic()
        status, _, body = _get(url + "/healthz", timeout=60)
        health_seconds = time.monotonic() - started
        assert status == 200 and b'"db"' in body
        uid = new_user_id()
        started = time.monotonic()
        assert _signed_webhook(url, uid, timeout=60)[0] == 200
        webhook_seconds = time.monotonic() - started
        assert LineEvent.select().where(LineEvent.user_id == uid).count() == 1
        # Figures for the record only (bench/README.md); nothing is asserted about them.
        print(f"\nwith nginx, 50 slow clients held: /healthz {health_seconds:.3f} s, webhook {webhook_seconds:.3f} s")
    finally:
        for s in held:
            s.close()


def test_a_pg_dump_restored_into_a_fresh_database_is_served(schema, db, tmp_path, app_config):
    load_agencies()
    proposal = seconding_proposal(title="備份還原後仍看得到的提案")
    dump = tmp_path / "platform.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", schema], check=True, timeout=300)
    restored = schema.rsplit("/", 1)[0] + "/" + schema.rsplit("/", 1)[1] + "_restored"
    admin = schema.rsplit("/", 1)[0] + "/postgres"
    name = restored.rsplit("/", 1)[1]
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True, timeout=300)
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True, timeout=300)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump)],
                       check=True, timeout=300)
        script = textwrap.dedent(f"""
            from webapp import create_app
            app = create_app({{"DATABASE_URL": {restored!r}, "REDIS_URL": {TEST_REDIS_URL!r}, "TESTING": True}})
            client = app.test_client()
            page = client.get("/proposals/{proposal.id}")
            print(page.status_code, "備份還原後仍看得到的提案" in page.get_data(as_text=True))
            print(client.get("/healthz").status_code)
        """)
        env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
        out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent, env=env,
                             check=True, timeout=300, capture_output=True, text=True).stdout.split()
        assert out == ["200", "True", "200"]
    finally:
        subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=False, timeout=300)
