"""Public pages at scale with concurrent clients (issue 13 item 3): not a test, a measurement.

Uses bench/open_data.py's data set (N published proposals with texts, responses, meetings and
extensions): `--db NAME` fills that database once if it does not exist, then reuses it. Then:

1. one sequential client, in-process (Flask's test client): p50/p95 and the SQL statements per
   page kind, so a page that issues one query per row shows;
2. the app served as the Procfile serves it (gunicorn, 2 workers × 4 threads by default) on
   127.0.0.1:PORT, driven by N concurrent clients (threads, http.client, a new connection per
   request as a browser behind nginx would open), p50/p95/p99 per page kind: a closed loop (each
   client asks again as soon as answered: the throughput, and latency at saturation), or with
   --rate an open loop at a fixed arrival rate (latency at a given load, waits included).

Page kinds: `/`, a search, a search with a state filter, each state filter, page 50, a deep page
(page 2,000 of 5,000), and a proposal page (random published proposals).

    .venv/bin/python bench/pages.py --db bench_pages_100k                 # fill once, then reuse
    .venv/bin/python bench/pages.py --db bench_pages_100k --clients 8 --requests 50 --port 18600
    .venv/bin/python bench/pages.py --db bench_pages_100k --clients 16 --rate 50 --skip-sequential
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from open_data import ADMIN_URL, REDIS_URL, WORDS, _admin, _exists, _percentile, fill, report_n  # noqa: E402

PUBLISHED = ("seconding", "established", "lapsed", "responded", "removed")


def page_kinds(top: int, seed: int = 3) -> dict:
    """{kind: a function giving the next path of that kind}."""
    rng = random.Random(seed)
    kinds = {
        "list": lambda: "/",
        "search": lambda: "/?q=" + quote(rng.choice(WORDS) + rng.choice(WORDS)),
        "search_filter": lambda: "/?q=" + quote(rng.choice(WORDS)) + "&state=seconding",
        "search_rare": lambda: "/?q=" + quote("查無此字" + str(rng.randrange(100))),
    }
    for state in PUBLISHED:
        kinds[f"filter_{state}"] = lambda state=state: f"/?state={state}"
    kinds["page_50"] = lambda: "/?page=50"
    kinds["page_2000"] = lambda: "/?page=2000"
    kinds["proposal"] = lambda: f"/proposals/{rng.randrange(1, top + 1)}"
    return kinds


def summary(timings: list[float]) -> dict:
    return {"n": len(timings), "p50_ms": round(_percentile(timings, 50), 1), "p95_ms": round(_percentile(timings, 95), 1),
            "p99_ms": round(_percentile(timings, 99), 1)}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def app_config(url: str) -> dict:
    return {"DATABASE_URL": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench-secret-key",
            "INBOUND_EMAIL_SECRET": "bench-inbound", "LINE_CHANNEL_SECRET": "bench-line",
            "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "PUBLIC_BASE_URL": "http://localhost",
            "LINE_SIMULATOR": "0", "LOG_LEVEL": "WARNING"}


def in_process(url: str, requests: int) -> dict:
    """One sequential client through Flask's test client; also the SQL statements per page."""
    from models.base import db as proxy
    from webapp import create_app

    app = create_app({"TESTING": False, **app_config(url)})
    client = app.test_client()
    db = proxy.obj
    statements = [0]
    original = db.execute_sql

    def counting(*args, **kwargs):
        statements[0] += 1
        return original(*args, **kwargs)

    db.execute_sql = counting
    report = {}
    for kind, path in page_kinds(report_n(url)).items():
        client.get(path())  # warm (templates, plans, caches of this kind)
        timings, queries = [], []
        for _ in range(requests):
            target = path()
            statements[0] = 0
            started = time.perf_counter()
            response = client.get(target)
            timings.append((time.perf_counter() - started) * 1000)
            queries.append(statements[0])
            assert response.status_code in (200, 404), (target, response.status_code)
        report[kind] = {**summary(timings), "sql_per_page": max(queries)}
    db.execute_sql = original
    return report


def serve(url: str, port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    """The Procfile's web line on 127.0.0.1:port."""
    env = {**os.environ, **app_config(url), "PYTHONPATH": str(ROOT)}
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers), "--threads", str(threads),
           "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "webapp:create_app()"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not answer in 60 s")


def drive(port: int, paths: list[str], clients: int, rate: float = 0.0) -> tuple[list[float], dict[int, int]]:
    """GET every path from `clients` threads at once; (latencies in ms, statuses).

    rate 0: closed loop (each client sends its next request when the last is answered). rate R: open
    loop, request i is due at i/R seconds and its latency counts from then, so a server that falls
    behind shows the wait (no coordinated omission); `clients` bounds the requests in flight."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    todo = iter(enumerate(paths))
    barrier = threading.Barrier(clients)
    origin = [0.0]

    def client():
        if barrier.wait() == 0:
            origin[0] = time.perf_counter()
        while not origin[0]:
            time.sleep(0.0005)
        while True:
            with lock:
                i, path = next(todo, (None, None))
            if path is None:
                return
            started = time.perf_counter()
            if rate:
                started = origin[0] + i / rate
                time.sleep(max(0.0, started - time.perf_counter()))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses


def concurrent(url: str, port: int, clients: int, requests: int, workers: int, threads: int, rate: float = 0.0) -> dict:
    log = Path(f"/tmp/bench_pages_{port}.log")
    proc = serve(url, port, workers, threads, log)
    report = {}
    try:
        kinds = page_kinds(report_n(url), seed=5)
        for kind, path in kinds.items():
            drive(port, [path() for _ in range(2 * clients)], clients)  # warm every worker and thread
            load_before = load()
            started = time.perf_counter()
            latencies, statuses = drive(port, [path() for _ in range(clients * requests)], clients, rate)
            seconds = time.perf_counter() - started
            report[kind] = {**summary(latencies), "per_s": round(len(latencies) / seconds, 1),
                            "statuses": statuses, "load": load_before}
            print(kind, json.dumps(report[kind]), flush=True)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)
    return report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="database name: filled once if missing, then reused")
    parser.add_argument("--n", type=int, default=100_000, help="proposals to fill a new database with")
    parser.add_argument("--requests", type=int, default=50, help="per page kind (per client when concurrent)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=18600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests per second, open loop (0: closed loop, each client as fast as answered)")
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    args = parser.parse_args()
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{args.db}"
    if not _exists(args.db):
        _admin(f'CREATE DATABASE "{args.db}"')
        started = time.perf_counter()
        fill(url, args.n)
        print(f"filled {args.n} proposals in {time.perf_counter() - started:.0f} s")
    print(f"{report_n(url)} proposals in {args.db}; load average {load()}", flush=True)
    report: dict = {}
    if not args.skip_sequential:
        report["one_client_in_process"] = in_process(url, args.requests)
        print(json.dumps(report["one_client_in_process"], indent=1), flush=True)
    if not args.skip_concurrent:
        mode = f"{args.rate:g}_per_s_open_loop" if args.rate else "closed_loop"
        report[f"gunicorn_{args.workers}x{args.threads}_{args.clients}_clients_{mode}"] = concurrent(
            url, args.port, args.clients, args.requests, args.workers, args.threads, args.rate)
    report["load_after"] = load()
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
