"""Helpers for tests/test_deploy.py and bench/slow_clients.py: gunicorn with deploy/gunicorn.conf.py
and Debian's nginx with deploy/nginx/, on free loopback ports, as separate processes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
CHANNEL_SECRET = "deploy-test-channel-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, deadline_seconds: float = 60) -> None:
    """Poll until the URL answers (any status); raise when it never does."""
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def start_gunicorn(database_url: str, redis_url: str, workdir: Path, *, threads: int = 4) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "MAIL_", "PROMETHEUS"))}
    env.update({
        "SECRET_KEY": "deploy-test-secret", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "deploy-test-token",
        "LINE_API_ENDPOINT": "http://127.0.0.1:9", "INBOUND_EMAIL_SECRET": "deploy-test-inbound",
        "LINE_DISPATCH": "listen", "TRUSTED_PROXIES": "1", "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": str(threads),
        "PUBLIC_BASE_URL": "https://platform.example.gov.tw",
    })
    log = (workdir / "gunicorn.log").open("ab")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
                             "--access-logfile", "/dev/null", "webapp:create_app()"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc, port


def nginx_config(workdir: Path, upstream_port: int, listen_port: int, *, address_header: bool = False) -> Path:
    """The deployment's access and locations files, unchanged except the static folder (this checkout)
    and, with `address_header`, the client address read from X-Test-From instead of the socket
    (so one loopback test can play a client outside the government network)."""
    access = (ROOT / "deploy/nginx/platform-access.conf").read_text()
    if address_header:
        access = access.replace("geo $platform_intranet {", "geo $http_x_test_from $platform_intranet {")
    (workdir / "platform-access.conf").write_text(access)
    locations = (ROOT / "deploy/nginx/platform-locations.conf").read_text().replace("/srv/platform/app/", f"{ROOT}/")
    (workdir / "platform-locations.conf").write_text(locations)
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / folder).mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/platform-access.conf;
    upstream platform_app {{ server 127.0.0.1:{upstream_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{listen_port};
        include {workdir}/platform-locations.conf;
    }}
}}
""")
    return conf


def start_nginx(workdir: Path, upstream_port: int, *, address_header: bool = False) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = nginx_config(workdir, upstream_port, port, address_header=address_header)
    subprocess.run([NGINX, "-t", "-q", "-c", str(conf), "-p", str(workdir)], check=True, capture_output=True)
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(workdir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def slow_clients(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each sent half a request (headers never finished) and hold on."""
    held = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: platform\r\nX-Slow: 1\r\n")
        else:  # a POST whose body never arrives
            s.sendall(b"POST /line/webhook HTTP/1.1\r\nHost: platform\r\nContent-Length: 5000\r\n"
                      b"Content-Type: application/json\r\n\r\n{\"events\":")
        held.append(s)
    return held
