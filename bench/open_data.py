"""Open data and public pages at scale (issue 13 item 3): not a test, a measurement.

Creates its own PostgreSQL database (dropped at the end unless --keep-db) on the server at
BENCH_ADMIN_DATABASE_URL, fills it with N published proposals (default 100,000) with their texts,
responses, meetings and extensions, then, in a fresh child process (so that loading the data does
not count), downloads /open-data/proposals.json and .csv through the app and reports for each the
bytes, seconds and the peak RSS of the whole process, a conditional GET (If-None-Match → 304), and
the latency of the list page (with a search and a filter) and of proposal pages.

    .venv/bin/python bench/open_data.py             # 100,000 proposals
    .venv/bin/python bench/open_data.py --n 10000 --keep-db
    .venv/bin/python bench/open_data.py --db bench_open_data_100k   # fill once, reuse (kept) afterwards

bench/pages.py measures the public pages on the same data with concurrent clients.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from models.agencies import import_agencies  # noqa: E402
from models.base import connect_database, db  # noqa: E402
from models.officials import Official  # noqa: E402
from models.proposals import Proposal  # noqa: E402
from models.responses import AgencyResponse, Extension, Meeting  # noqa: E402
from models.schema import create_tables  # noqa: E402
from webapp import create_app  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
STATES = [("seconding", 20), ("established", 10), ("lapsed", 40), ("responded", 25), ("removed", 5)]
WORDS = "推動 公文 線上 簽核 無紙化 彈性 上班 區公所 夜間 服務 時段 試辦 減少 紙張 傳遞 時間 節省 人力 縮短 處理 流程 提升 效率".split()


def _admin(sql: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    conn.cursor().execute(sql)
    conn.close()


def _admin_on(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute(sql)
    conn.close()


def _exists(name: str) -> bool:
    conn = psycopg2.connect(ADMIN_URL)
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    found = cur.fetchone() is not None
    conn.close()
    return found


def _text(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(words)) + "。"


def fill(url: str, n: int) -> None:
    """N published proposals by 1,000 officials, with responses, meetings and extensions."""
    connect_database(url)
    create_tables()
    import_agencies(str(ROOT / "data" / "agencies.csv"))
    rng = random.Random(7)
    with db.atomic():
        Official.insert_many([{"line_user_id": f"U{uuid.uuid4().hex}", "status": "verified", "real_name": f"測試{i}",
                               "nickname": f"暱稱{i}", "display_choice": "nickname", "email": f"o{i}@taichung.gov.tw",
                               "verified_email": f"o{i}@taichung.gov.tw", "agency_code": "RDEC"} for i in range(1000)]).execute()
    officials = [o.id for o in Official.select(Official.id)]
    states = [s for s, weight in STATES for _ in range(weight)]
    start = dt.datetime(2024, 1, 1)
    for base in range(0, n, 2000):
        rows = []
        for _ in range(min(2000, n - base)):
            state = rng.choice(states)
            began = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 900))
            notified = began + dt.timedelta(days=20) if state in ("established", "responded") else None
            rows.append({
                "proposer": rng.choice(officials), "state": state, "scope": "internal", "title": _text(rng, 8),
                "content": _text(rng, 120), "benefits": _text(rng, 60), "evidence": "https://example.gov.tw/report",
                "agency_code": rng.choice(["CIVIL", "RDEC", "EDU"]), "submitted_at": began,
                "first_submitted_at": began, "seconding_started_at": began, "seconding_ends": (began + dt.timedelta(days=30)).date(),
                "second_count": 200 if notified else rng.randrange(0, 200), "established_at": notified,
                "notified_at": notified, "response_due": (notified + dt.timedelta(days=61)).date() if notified else None,
                "responded_at": notified + dt.timedelta(days=rng.randrange(5, 80)) if state == "responded" else None,
                "response_decision": rng.choice(["adopt", "partial", "reject"]) if state == "responded" else None,
                "removal_ground": "R7.5" if state == "removed" else None, "updated_at": began,
            })
        with db.atomic():
            Proposal.insert_many(rows).execute()
    with db.atomic():
        responded = list(Proposal.select(Proposal.id, Proposal.responded_at, Proposal.response_decision, Proposal.agency_code,
                                         Proposal.notified_at).where(Proposal.state == "responded").tuples())
        for chunk in range(0, len(responded), 2000):
            part = responded[chunk:chunk + 2000]
            AgencyResponse.insert_many([{"proposal": pid, "decision": decision, "reasons": _text(rng, 80),
                                         "plan": _text(rng, 40), "agency_code": agency, "responded_by": "staff:1",
                                         "published_at": at} for pid, at, decision, agency, _ in part]).execute()
            Meeting.insert_many([{"proposal": pid, "held_on": (notified + dt.timedelta(days=3)).date(), "place": "會議室",
                                  "participants": "提案人", "summary": _text(rng, 50), "scheduled_by": "staff:1"}
                                 for pid, _, _, _, notified in part[::10]]).execute()
            Extension.insert_many([{"proposal": pid, "original_due": (notified + dt.timedelta(days=61)).date(),
                                    "new_due": (notified + dt.timedelta(days=90)).date(), "reason": _text(rng, 30),
                                    "granted_by": "staff:1"} for pid, _, _, _, notified in part[::20]]).execute()
    db.close()
    _admin_on(url, "VACUUM ANALYZE")  # the state autovacuum leaves a settled table in (index-only scans)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process, MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def measure(url: str, requests: int) -> dict:
    """In a fresh process: stream both files, one conditional GET, then page latencies (ms)."""
    app = create_app({"TESTING": False, "SECRET_KEY": "bench-secret-key", "DATABASE_URL": url, "REDIS_URL": REDIS_URL,
                      "INBOUND_EMAIL_SECRET": "bench-inbound", "LINE_CHANNEL_SECRET": "bench-line",
                      "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "PUBLIC_BASE_URL": "http://localhost"})
    client = app.test_client()
    client.get("/")  # warm up (templates, connection)
    now, peak = rss_mb()
    report: dict = {"rss_before_mb": round(now, 1), "peak_rss_before_mb": round(peak, 1)}
    for fmt in ("json", "csv"):
        started = time.perf_counter()
        response = client.get(f"/open-data/proposals.{fmt}", buffered=False)
        size = sum(len(piece) for piece in response.response)
        response.close()
        now, peak = rss_mb()
        report[fmt] = {"bytes": size, "seconds": round(time.perf_counter() - started, 2),
                       "rss_after_mb": round(now, 1), "peak_rss_mb": round(peak, 1)}
        report["etag"] = response.headers["ETag"]
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        again = client.get("/open-data/proposals.json", headers={"If-None-Match": report["etag"]})
        timings.append((time.perf_counter() - started) * 1000)
        assert again.status_code == 304
    report["not_modified_ms_p50"] = round(statistics.median(timings), 1)
    for label in ("stats_first_ms", "stats_cached_ms"):  # aggregated from every record, then cached per version
        started = time.perf_counter()
        assert client.get("/stats").status_code == 200
        report[label] = round((time.perf_counter() - started) * 1000, 1)
    report["peak_rss_after_stats_mb"] = round(rss_mb()[1], 1)
    rng = random.Random(3)
    pages = {"list": lambda: "/", "list_search": lambda: "/?q=" + rng.choice(WORDS) + "&state=seconding",
             "list_page_50": lambda: "/?page=50", "proposal": lambda: f"/proposals/{rng.randrange(1, report_n(url))}"}
    for name, path in pages.items():
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(path())
            timings.append((time.perf_counter() - started) * 1000)
        report[name] = {"p50_ms": round(_percentile(timings, 50), 1), "p95_ms": round(_percentile(timings, 95), 1)}
    return report


def report_n(url: str) -> int:
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("SELECT MAX(id) FROM proposal")
    top = cur.fetchone()[0]
    conn.close()
    return top


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--db", help="database name: filled if it does not exist, reused (and kept) if it does")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child: the database URL
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.requests)))
        return 0
    name = args.db or f"bench_open_data_{uuid.uuid4().hex[:8]}"
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    reuse = bool(args.db) and _exists(name)
    keep = args.keep_db or reuse
    if not reuse:
        _admin(f'CREATE DATABASE "{name}"')
    try:
        if reuse:
            print(f"reusing {name} ({report_n(url)} proposals)")
        else:
            started = time.perf_counter()
            fill(url, args.n)
            print(f"filled {args.n} proposals in {time.perf_counter() - started:.0f} s")
        child = subprocess.run([sys.executable, __file__, "--measure", url, "--requests", str(args.requests)],
                               capture_output=True, text=True, cwd=ROOT)
        if child.returncode:
            print(child.stderr)
            return child.returncode
        report = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps(report, indent=2, ensure_ascii=False))
        worst = max(report["json"]["peak_rss_mb"], report["csv"]["peak_rss_mb"])
        print(f"peak RSS of the exporting process: {worst:.0f} MB (target < 150 MB)")
        return 0 if worst < 150 else 1
    finally:
        if not keep:
            _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            _admin(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    sys.exit(main())
