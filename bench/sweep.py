"""The deadlines sweep at scale (issue 13 item 2).

Not a test: a measurement. Creates its own database on the shared PostgreSQL
(bench_sweep_<pid>_<N>, --db-prefix to rename; dropped at the end), loads N proposals (COPY)
across every state with their clocks, 5 % as many
consultations, 5 seconds per proposal (500,000 at 100k), then:

1. one sweep with nothing due (every clock in the future);
2. one sweep with 1,000 items due (seconding windows that ended: lapsed, notices written);
3. EXPLAIN of every SELECT the sweep ran (captured from peewee's log), flagging sequential scans
   of the big tables;
4. a calendar override (a typhoon day closed) recomputing every open clock, while a thread stores
   webhook events as the webhook does (jobs.line_events.store_events) and times each.

The domain's sweep steps (models.deadlines.SWEEP_STEPS) run in-process as `run_sweep` runs them;
the outbox rows they write are left for the workers (not sent here).

  .venv/bin/python bench/sweep.py --sizes 10000,100000          # growth; 1000000 loads in minutes (COPY)
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BIG_TABLES = {"proposal", "second", "consultation", "official", "agency_assignment", "outbox", "line_event"}

# state -> share of proposals
STATES = {"draft": 0.08, "submitted": 0.08, "returned": 0.04, "seconding": 0.25, "established": 0.15,
          "lapsed": 0.2, "responded": 0.1, "withdrawn": 0.05, "removed": 0.05}


class SqlLog(logging.Handler):
    """Keeps every (sql, params) peewee runs while `on`."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.on, self.queries = False, []

    def emit(self, record):
        if self.on and isinstance(record.msg, tuple):
            self.queries.append(record.msg)


def load(n: int, officials: int) -> None:
    """N proposals across the states, 5 % consultations, up to 5 seconds each for published ones.
    Rows go in with COPY in chunks of 50,000 (1M proposals and 3.5M seconds load in minutes, not
    the best part of an hour with INSERTs; memory stays bounded)."""
    from models import db
    from models.agencies import Agency
    from models.base import utcnow
    from models.consultations import Consultation
    from models.officials import Official
    from models.proposals import Proposal
    from models.seconds import Second

    rng = random.Random(13)
    now = utcnow()
    today = now.date()
    agencies = [a.code for a in Agency.select(Agency.code).limit(50)]
    with db.atomic():
        for start in range(0, officials, CHUNK):
            _copy(Official, [{"line_user_id": f"U{uuid.uuid4().hex}", "status": "verified", "nickname": f"同仁{i}",
                              "display_choice": "nickname", "email": f"s{i}@taichung.gov.tw",
                              "verified_email": f"s{i}@taichung.gov.tw", "verified_at": now, "created_at": now}
                             for i in range(start, min(officials, start + CHUNK))])
    ids = [i for (i,) in Official.select(Official.id).tuples()]
    states = list(STATES)
    weights = list(STATES.values())
    with db.atomic():
        for start in range(0, n, CHUNK):
            rows = []
            for i in range(start, min(n, start + CHUNK)):
                rows.append(_proposal_row(i, rng.choices(states, weights)[0], rng, now, today, ids, agencies))
            _copy(Proposal, _uniform(rows, {"second_count": 0}))
        db.execute_sql("DELETE FROM proposal_similar_queue")  # as if indexed long ago (steady state)
    consultations = []
    for i in range(max(1, n // 20)):
        state = rng.choice(["draft", "in_review", "approved", "open", "closed", "summarised"])
        c = {"agency_code": rng.choice(agencies), "title": f"意見徵詢 {i}", "background": "背景", "questions": "問題",
             "scope": "internal", "basis": "R10.1.1", "stage": "forming", "state": state, "created_by": "bench"}
        if state == "in_review":
            c.update(submitted_at=now, review_due=(now + dt.timedelta(days=5)).date())
        if state in ("open", "closed", "summarised"):
            c.update(opens_at=now - dt.timedelta(days=20), closes_on=(now + dt.timedelta(days=10)).date(),
                     closes_at=now + dt.timedelta(days=10))
        if state in ("closed", "summarised"):
            c.update(closes_on=(now - dt.timedelta(days=3)).date(), closes_at=now - dt.timedelta(days=3),
                     closed_at=now - dt.timedelta(days=3), summary_due=(now + dt.timedelta(days=20)).date())
        consultations.append(c)
    consultations = _uniform(consultations, {})
    with db.atomic():
        for start in range(0, len(consultations), CHUNK):
            _copy(Consultation, consultations[start:start + CHUNK])
    published = [i for (i,) in Proposal.select(Proposal.id).where(
        Proposal.state.in_(["seconding", "established", "lapsed", "responded"])).order_by(Proposal.id).tuples()]
    with db.atomic():
        batch, seen = [], set()
        for k, pid in enumerate(published):
            for j in range(5):
                official = ids[(k * 7 + j * 131) % len(ids)]
                if (official, pid) not in seen:  # one second per official and proposal
                    seen.add((official, pid))
                    batch.append({"proposal": pid, "official": official, "via": "chat", "created_at": now})
            if len(batch) >= CHUNK:
                _copy(Second, batch)
                batch, seen = [], set()
        if batch:
            _copy(Second, batch)
    db.execute_sql("VACUUM ANALYZE")


CHUNK = 50_000


def _proposal_row(i: int, state: str, rng: random.Random, now: dt.datetime, today: dt.date, ids: list[int],
                  agencies: list[str]) -> dict:
    future = now + dt.timedelta(days=rng.randint(2, 60))
    row = {"proposer": ids[i % len(ids)], "state": state, "scope": "rights", "title": f"提案 {i} 調整差勤規定",
           "content": "建議內容。", "benefits": "效益。", "agency_code": rng.choice(agencies),
           "created_at": now - dt.timedelta(days=rng.randint(1, 400)), "submitted_at": now, "first_submitted_at": now}
    if state == "submitted":
        row["review_due"] = future.date()
    if state in ("seconding", "established", "lapsed", "responded", "removed"):
        row.update(seconding_started_at=now - dt.timedelta(days=10), seconding_ends=future.date(),
                   seconding_ends_at=future)
    if state == "lapsed":
        row.update(seconding_ends=today - dt.timedelta(days=5), seconding_ends_at=now - dt.timedelta(days=5),
                   lapsed_at=now - dt.timedelta(days=4))
    if state in ("established", "responded"):
        row.update(second_count=200, established_at=now - dt.timedelta(days=3), notice_due=today - dt.timedelta(days=2),
                   notified_at=now - dt.timedelta(days=2), response_due=future.date())
    if state == "established":  # steady state: reminded on an earlier day (models.response_clock.remindable)
        row.update(response_reminded_kind="due_soon", response_reminded_due=future.date())
    if state == "responded":
        row.update(responded_at=now - dt.timedelta(days=1), response_decision="adopted")
    if state == "withdrawn":
        row["withdrawn_at"] = now
    if state == "removed":
        row.update(removed_at=now, removal_ground="R7.5", removal_reason="違反善良風俗")
    return row


def _uniform(rows: list[dict], defaults: dict) -> list[dict]:
    """Give every row every key (COPY names its columns once per chunk)."""
    keys = {k for row in rows for k in row}
    return [{k: row.get(k, defaults.get(k)) for k in keys} for row in rows]


def _copy(model, rows: list[dict]) -> None:
    """COPY rows (field name -> value, every row the same keys) into the model's table, with the
    model's Python-side defaults for the fields not given (as insert_many would add them)."""
    from models import db

    if not rows:
        return
    fields = model._meta.fields
    given = list(rows[0])
    defaults = {name: (f.default() if callable(f.default) else f.default) for name, f in fields.items()
                if name not in given and f.default is not None and not f.primary_key}
    names = given + list(defaults)
    columns = ", ".join(f'"{fields[name].column_name}"' for name in names)

    def cell(value) -> str:
        if value is None:
            return ""
        return '"' + str(value).replace('"', '""') + '"'

    lines = []
    for row in rows:
        values = [row[name] for name in given] + list(defaults.values())
        lines.append(",".join(cell(fields[name].db_value(v)) for name, v in zip(names, values, strict=True)))
    buffer = io.StringIO("\n".join(lines) + "\n")
    db.cursor().copy_expert(f'COPY "{model._meta.table_name}" ({columns}) FROM STDIN WITH (FORMAT csv)', buffer)


def sweep_once(now: dt.datetime) -> dict:
    from models.deadlines import SWEEP_STEPS

    steps = {}
    start = time.perf_counter()
    for _rule, name, step in SWEEP_STEPS:
        clock = time.perf_counter()
        result = step(now)
        steps[name] = (result, round((time.perf_counter() - clock) * 1000, 1))
    return {"total_ms": round((time.perf_counter() - start) * 1000, 1), "steps": steps}


def make_due(count: int, now: dt.datetime) -> int:
    from models.proposals import Proposal

    ids = [p.id for p in Proposal.select(Proposal.id).where(Proposal.state == "seconding").limit(count)]
    past = now - dt.timedelta(minutes=5)  # windows that started two months ago and ended just now
    Proposal.update(seconding_started_at=now - dt.timedelta(days=60), seconding_ends_at=past,
                    seconding_ends=(past + dt.timedelta(hours=8)).date()).where(Proposal.id.in_(ids)).execute()
    return len(ids)


def explain(queries: list[tuple]) -> list[dict]:
    from models import db

    out, seen = [], set()
    for sql, params in queries:
        if not sql.lstrip().upper().startswith("SELECT") or "pg_" in sql or "to_regclass" in sql:
            continue
        shape = sql.split(" WHERE ")[0][:80] + (sql.split(" WHERE ", 1)[1][:120] if " WHERE " in sql else "")
        if shape in seen:
            continue
        seen.add(shape)
        plan = [r[0] for r in db.execute_sql("EXPLAIN " + sql, params).fetchall()]
        seq = [line.strip() for line in plan if "Seq Scan" in line and any(f' on {t} ' in line + " " or
                                                                          f' on "{t}"' in line for t in BIG_TABLES)]
        out.append({"sql": sql[:220], "plan": plan, "big_seq_scans": seq})
    return out


def typhoon(now: dt.datetime, webhook_samples: list[float]) -> dict:
    """Close tomorrow (a typhoon day) while a thread stores webhook events and times each."""
    from jobs.line_events import store_events
    from models.deadlines import add_override

    stop = threading.Event()

    def webhook():
        while not stop.is_set():
            body = {"events": [{"type": "message", "webhookEventId": uuid.uuid4().hex, "replyToken": "r",
                                "source": {"type": "user", "userId": "U" + uuid.uuid4().hex},
                                "message": {"type": "text", "text": "附議"}}]}
            clock = time.perf_counter()
            store_events(body)
            webhook_samples.append((time.perf_counter() - clock) * 1000)
            time.sleep(0.01)

    thread = threading.Thread(target=webhook, daemon=True)
    thread.start()
    time.sleep(0.5)
    before = len(webhook_samples)
    clock = time.perf_counter()
    add_override((now + dt.timedelta(days=1)).date(), "closed", "颱風停止上班", by="bench", now=now)
    elapsed = time.perf_counter() - clock
    during = webhook_samples[before:]
    stop.set()
    thread.join()
    during.sort()
    return {"override_s": round(elapsed, 2), "webhook_during": len(during),
            "webhook_p50_ms": round(statistics.median(during), 2) if during else None,
            "webhook_max_ms": round(during[-1], 2) if during else None}


def run_size(n: int, args) -> dict:
    import psycopg2

    from models import db, services
    from models.agencies import import_agencies
    from models.base import connect_database, utcnow
    from webapp.schema import create_schema

    name = f"{args.db_prefix}{os.getpid()}_{n}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    result: dict = {"n": n}
    try:
        connect_database(url)
        services.configure(public_base_url="http://bench.localhost", reply_domain="reply.bench.test",
                           secret_key="bench", after_commit=None)
        create_schema()
        import_agencies(str(ROOT / "data" / "agencies.csv"))
        clock = time.perf_counter()
        load(n, officials=max(1000, n // 20))
        result["load_s"] = round(time.perf_counter() - clock, 1)
        counts = db.execute_sql("SELECT (SELECT count(*) FROM proposal), (SELECT count(*) FROM consultation), "
                                "(SELECT count(*) FROM second)").fetchone()
        result["rows"] = dict(zip(("proposals", "consultations", "seconds"), counts, strict=True))
        now = utcnow()
        sweep_once(now)  # the first sweep settles what the load left (clocks computed by the sweep's rules)
        sql = SqlLog()
        logging.getLogger("peewee").addHandler(sql)
        logging.getLogger("peewee").setLevel(logging.DEBUG)
        sql.on = True
        result["nothing_due"] = sweep_once(utcnow())
        sql.on = False
        result["due_made"] = make_due(args.due, utcnow())
        sql.on = True
        result["due"] = sweep_once(utcnow())
        sql.on = False
        logging.getLogger("peewee").removeHandler(sql)
        logging.getLogger("peewee").setLevel(logging.WARNING)
        result["explain"] = explain(sql.queries)
        result["typhoon"] = typhoon(utcnow(), [])
        result["after_typhoon_nothing_due"] = sweep_once(utcnow())["total_ms"]
    finally:
        db.close()
        if not args.keep:
            admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                   "AND pid <> pg_backend_pid()", (name,))
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="proposal counts (default 10000,100000)")
    parser.add_argument("--due", type=int, default=1000, help="items made due for the second sweep")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--db-prefix", default="bench_sweep_",
                        help="database name prefix (default bench_sweep_; the pid and N follow)")
    parser.add_argument("--plans", action="store_true", help="print every plan, not only the flagged ones")
    args = parser.parse_args(argv)
    print(f"sweep at scale: load average {os.getloadavg()}", flush=True)
    ok = True
    for n in [int(s) for s in args.sizes.split(",")]:
        r = run_size(n, args)
        slow = sorted(r["nothing_due"]["steps"].items(), key=lambda kv: -kv[1][1])[:4]
        print(f"\nN={n}: rows {r['rows']}, loaded in {r['load_s']} s")
        print(f"  nothing due: {r['nothing_due']['total_ms']} ms (target < 1000); slowest steps "
              + ", ".join(f"{k} {v[1]} ms" for k, v in slow))
        due_steps = {k: v for k, v in r["due"]["steps"].items() if v[0]}
        print(f"  {r['due_made']} due: {r['due']['total_ms']} ms (target < 5000); acted: {due_steps}")
        flagged = [e for e in r["explain"] if e["big_seq_scans"]]
        print(f"  EXPLAIN: {len(r['explain'])} distinct SELECTs, {len(flagged)} with a sequential scan of a big table")
        for e in (r["explain"] if args.plans else flagged):
            print("    " + e["sql"])
            for line in e["plan"]:
                print("      " + line)
        t = r["typhoon"]
        print(f"  typhoon day override: {t['override_s']} s (target < 10); webhook stores during it: "
              f"{t['webhook_during']}, p50 {t['webhook_p50_ms']} ms, max {t['webhook_max_ms']} ms; "
              f"nothing-due sweep afterwards {r['after_typhoon_nothing_due']} ms")
        ok = ok and r["nothing_due"]["total_ms"] < 1000 and r["due"]["total_ms"] < 5000 and t["override_s"] < 10
    print(f"\nload average after: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
