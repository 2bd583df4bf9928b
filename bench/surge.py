"""Seconding surge with faults (issue 13): officials tap 附議 at a steady rate while a worker, Redis,
the mail server and PostgreSQL fail mid-run; every code email, every confirmation and every
counted second is checked.

Not a test: a measurement. It starts its OWN PostgreSQL cluster (initdb, port 55432) and its own
redis-server (port 56379) and injects faults only into those, then the Procfile's processes
(gunicorn web, rq workers, the scheduler) on this machine, an SMTP sink and the LINE stand-in.
The load comes from the existing driver's approach (threads posting signed webhooks) rather than
locust: the confirmations react to each emailed code, which is simpler to express in one process
that also owns the SMTP sink.

Each official taps 附議 once (a signed postback), receives the code by email, and confirms it: 80 %
type it in the chat (a signed text webhook), 20 % reply to the email (POST /email/inbound, signed
as the tests sign). A request the service fails (5xx, refused) is retried with the same body, as
LINE and a mail relay would.

  .venv/bin/python bench/surge.py --quick              # ~30 s of load, faults compressed
  .venv/bin/python bench/surge.py                      # 25 taps/s for 300 s with the four faults
  .venv/bin/python bench/surge.py --pg-kill            # PostgreSQL SIGKILLed instead of restarted
  .venv/bin/python bench/surge.py --burst 5000         # throughput: codes/s and officials/s
  .venv/bin/python bench/surge.py --find-rate          # highest sustained rate with p99 < 10 s
Exit status 1 (naming the officials) when a second or a code email is lost or doubled.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from seconding_storm import CHANNEL_SECRET, ROOT, setup_database  # noqa: E402
from surge_infra import INBOUND_SECRET, Client, PgCluster, RedisServer, Service, Sink, cpu_snapshot  # noqa: E402
from surge_report import percentiles, print_report, recovery  # noqa: E402

P99_LIMIT = 10.0



def _run_senders(sender, count: int) -> float:
    """Run `count` threads of `sender` until each has emptied the work queue; the time they finished."""
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.time()

class Surge:
    """One load run against one Service: taps paced at a rate, confirmations as codes arrive."""

    def __init__(self, args, service: Service, sink: Sink, standin, users, proposal_id: int):
        self.args, self.service, self.sink, self.standin = args, service, sink, standin
        self.users = users  # [(line user id, email)]
        self.by_mail = {mail: (i, uid) for i, (uid, mail) in enumerate(users)}
        self.proposal_id = proposal_id
        self.client = Client(service.port)
        self.lock = threading.Lock()
        self.tapped: dict[int, float] = {}  # official index -> tap time (scheduled: what the person felt)
        self.tap_result: dict[int, int] = {}  # official index -> HTTP status of the tap (0: gave up)
        self.confirmed: dict[int, str] = {}  # official index -> "chat" | "email" (accepted by the service)
        self.confirm_outcomes: dict[str, int] = {}
        self.confirm_q: queue.Queue = queue.Queue()
        self.next_official = 0
        sink.on_code = self._on_code
        self.confirmers = [threading.Thread(target=self._confirm_loop, daemon=True) for _ in range(16)]
        for thread in self.confirmers:
            thread.start()

    # --- taps -----------------------------------------------------------------------------------
    def _event_body(self, uid: str, kind: str, **kw) -> bytes:
        from devtools.line_standin import make_body, make_event

        event = make_event(kind, uid, **kw)
        with self.standin.state.lock:
            self.standin.state.reply_tokens[event["replyToken"]] = {"used": False, "registered": "", "userId": uid}
        return make_body([event])

    def tap(self, index: int, at: float) -> int:
        uid = self.users[index][0]
        with self.lock:
            self.tapped[index] = at
        status, _, _ = self.client.webhook(self._event_body(uid, "postback",
                                                            data=f"a=sec.confirm&p={self.proposal_id}&notify=0"))
        with self.lock:
            self.tap_result[index] = status
        return status

    def take(self, count: int) -> list[int]:
        with self.lock:
            start = self.next_official
            if start + count > len(self.users):
                raise SystemExit(f"not enough officials prepared ({len(self.users)}); raise --officials")
            self.next_official += count
        return list(range(start, start + count))

    def paced(self, rate: float, seconds: float, senders: int = 64) -> tuple[float, float]:
        """Tap at `rate` per second for `seconds`; returns (start, end) wall-clock times."""
        indices = self.take(int(rate * seconds))
        work: queue.Queue = queue.Queue()
        start = time.time() + 0.2
        for k, index in enumerate(indices):
            work.put((index, start + k / rate))

        def sender():
            while True:
                try:
                    index, at = work.get_nowait()
                except queue.Empty:
                    return
                delay = at - time.time()
                if delay > 0:
                    time.sleep(delay)
                self.tap(index, at)

        return start, _run_senders(sender, senders)

    def burst(self, count: int, senders: int = 32) -> tuple[float, float]:
        indices = self.take(count)
        work: queue.Queue = queue.Queue()
        for index in indices:
            work.put(index)
        start = time.time()

        def sender():
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                self.tap(index, time.time())

        return start, _run_senders(sender, senders)

    # --- confirmations --------------------------------------------------------------------------
    def _on_code(self, mail: str, code: str, message) -> None:
        self.confirm_q.put((mail, code, message))  # called in the SMTP sink's loop: never block it

    def _confirm_loop(self) -> None:
        from tests.fixtures_mail import reply_to_email

        while True:
            mail, code, message = self.confirm_q.get()
            index, uid = self.by_mail[mail]
            with self.lock:
                if index in self.confirmed:
                    continue  # a second code email (counted as doubled); confirm once
                self.confirmed[index] = "pending"
            if index % 5 == 4:  # 20 % reply to the email
                status, body, _ = self.client.inbound_mail(reply_to_email(message.parsed(), mail, "附議"))
                outcome = json.loads(body).get("outcome", "?") if status == 200 else f"http {status}"
                how = "email" if outcome == "confirmed" else None
            else:  # 80 % type the code in the chat
                status, _, _ = self.client.webhook(self._event_body(uid, "text", text=code))
                outcome = "chat 200" if status == 200 else f"chat http {status}"
                how = "chat" if status == 200 else None
            with self.lock:
                self.confirm_outcomes[outcome] = self.confirm_outcomes.get(outcome, 0) + 1
                if how:
                    self.confirmed[index] = how
                else:
                    del self.confirmed[index]

    # --- what the database says -----------------------------------------------------------------
    def db_counts(self) -> dict | None:
        import psycopg2

        try:
            conn = psycopg2.connect(self.service.env["DATABASE_URL"], connect_timeout=3)
        except psycopg2.Error:
            return None
        try:
            cur = conn.cursor()
            cur.execute("SELECT second_count FROM proposal WHERE id = %s", (self.proposal_id,))
            second_count = cur.fetchone()[0]
            cur.execute("SELECT o.email, count(*) FROM second s JOIN official o ON o.id = s.official_id "
                        "WHERE s.proposal_id = %s GROUP BY o.email", (self.proposal_id,))
            per_official = dict(cur.fetchall())
            cur.execute("SELECT status, count(*) FROM line_event GROUP BY status")
            events = dict(cur.fetchall())
            cur.execute("SELECT status, count(*) FROM outbox GROUP BY status")
            outbox = dict(cur.fetchall())
            # mails that failed at least once and were sent later (the sent mark counts the last attempt)
            cur.execute("SELECT count(*), EXTRACT(EPOCH FROM max(sent_at)) FROM outbox "
                        "WHERE channel = 'mail' AND status = 'sent' AND attempts >= 2")
            retried, last_retry_sent = cur.fetchone()
            return {"second_count": second_count, "per_official": per_official, "events": events, "outbox": outbox,
                    "retried_mails": retried, "last_retry_sent": float(last_retry_sent) if last_retry_sent else None}
        except psycopg2.Error:
            return None
        finally:
            conn.close()

    def wait_settled(self, timeout: float) -> dict:
        """Until every accepted tap has its code and every accepted confirmation is counted."""
        deadline = time.monotonic() + timeout
        counts = None
        while time.monotonic() < deadline:
            counts = self.db_counts() or counts
            with self.lock:
                accepted = [i for i, s in self.tap_result.items() if s == 200]
                pending_confirm = sum(1 for v in self.confirmed.values() if v == "pending")
                confirmed = sum(1 for v in self.confirmed.values() if v in ("chat", "email"))
            coded = sum(1 for i in accepted if self.users[i][1] in self.sink.mails)
            if counts and coded == len(accepted) and not pending_confirm and self.confirm_q.empty() \
                    and counts["second_count"] >= confirmed:
                return counts
            time.sleep(1)
        return counts or {}

    def latencies(self) -> dict[int, float]:
        """Official index -> seconds from the tap to the first code email (inf: none came)."""
        out = {}
        with self.lock, self.sink.lock:
            for index, at in self.tapped.items():
                mails = self.sink.mails.get(self.users[index][1])
                out[index] = (mails[0][0] - at) if mails else float("inf")
        return out


class Faults:
    """The four faults, at fractions of the run; each recorded as (name, start, end)."""

    def __init__(self, args, pg: PgCluster, redis: RedisServer, service: Service, sink: Sink):
        self.args, self.pg, self.redis, self.service, self.sink = args, pg, redis, service, sink
        self.log: list[dict] = []

    def _mark(self, name: str, start: float, end: float | None = None, **extra) -> None:
        self.log.append({"name": name, "start": start, "end": end or time.time(), **extra})
        print(f"  fault {name} at +{start - self.t0:.0f} s ({self.log[-1]['end'] - start:.1f} s)", flush=True)

    def run(self, t0: float, duration: float) -> None:
        self.t0 = t0
        smtp_down = min(60.0, 0.2 * duration)
        plan = [(0.13, self.kill_worker), (0.30, self.flushall), (0.43, lambda: self.smtp_down(smtp_down)),
                (0.77, self.pg_crash if self.args.pg_kill else self.pg_restart)]
        for fraction, fault in plan:
            time.sleep(max(0.0, t0 + fraction * duration - time.time()))
            fault()

    def kill_worker(self) -> None:
        start = time.time()
        self.service.kill_worker(0)
        time.sleep(5)  # a process manager starts it again
        self.service.restart_worker(0)
        self._mark("worker SIGKILL", start, start)

    def flushall(self) -> None:
        start = time.time()
        self.redis.flushall()
        self._mark("Redis FLUSHALL", start, start)

    def smtp_down(self, seconds: float) -> None:
        start = time.time()
        self.sink.down(True)
        time.sleep(seconds)
        self.sink.down(False)
        self._mark(f"SMTP down {seconds:.0f} s", start)

    def pg_restart(self) -> None:
        start = time.time()
        self.pg.restart_fast()
        self._mark("PostgreSQL restart -m fast", start)

    def pg_crash(self) -> None:
        start = time.time()
        self.pg.kill()
        self._mark("PostgreSQL SIGKILL + start", start)


def build(args):
    from devtools.line_standin import serve_in_thread

    pg = PgCluster(args.pg_port)
    try:
        redis = RedisServer(args.redis_port)
    except BaseException:
        pg.destroy()
        raise
    try:
        return _build(args, pg, redis, serve_in_thread)
    except BaseException:
        redis.stop()
        pg.destroy()
        raise


def _build(args, pg, redis, serve_in_thread):
    import psycopg2

    admin = psycopg2.connect(pg.admin_url)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "surge"')
    admin.close()
    url = pg.url("surge")
    proposal_id, users = setup_database(url, args.officials)
    base = args.port_base  # web, SMTP sink, LINE stand-in on base, base+1, base+2 (0: any free ports)
    sink, standin = Sink(port=base + 1 if base else 0), serve_in_thread(port=base + 2 if base else 0)
    logdir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"surge_{uuid.uuid4().hex[:6]}"
    logdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis.url, "SECRET_KEY": "bench-secret-key",
           "INBOUND_EMAIL_SECRET": INBOUND_SECRET, "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
           "LINE_CHANNEL_ACCESS_TOKEN": "bench-token", "LINE_API_ENDPOINT": standin.url, "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(sink.port), "MAIL_USE_TLS": "0", "REPLY_DOMAIN": "reply.bench.test",
           "ALLOWED_EMAIL_DOMAINS": "taichung.gov.tw", "PUBLIC_BASE_URL": "http://bench.localhost",
           "LINE_SIMULATOR": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    env.pop("SECONDING_THRESHOLD", None)
    profile = logdir / "worker0.prof" if args.profile else None
    service = Service(env, logdir, args.rq_workers, profile_worker=profile, port=base)
    print(f"stack up: PostgreSQL :{pg.port}, redis :{redis.port}, web :{service.port}, logs {logdir}", flush=True)
    return pg, redis, sink, standin, service, users, proposal_id, logdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=25.0, help="taps per second (default 25)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--quick", action="store_true", help="30 s of load, faults compressed")
    parser.add_argument("--pg-kill", action="store_true", help="PostgreSQL SIGKILLed instead of a clean restart")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--burst", type=int, default=0, help="tap N at once instead (throughput)")
    parser.add_argument("--find-rate", action="store_true", help="step the rate up until p99 >= 10 s")
    parser.add_argument("--rates", default="25,50,75,100,125,150", help="--find-rate steps")
    parser.add_argument("--stage", type=float, default=30.0, help="--find-rate seconds per step")
    parser.add_argument("--rq-workers", type=int, default=6, help="RQ worker processes (default 6: three per CPU)")
    parser.add_argument("--officials", type=int, default=0, help="officials prepared (default: enough)")
    parser.add_argument("--pg-port", type=int, default=55432)
    parser.add_argument("--redis-port", type=int, default=56379)
    parser.add_argument("--port-base", type=int, default=0,
                        help="web, SMTP sink and LINE stand-in on this port and the next two (default: free ports)")
    parser.add_argument("--settle", type=float, default=300.0, help="seconds to wait for the drain")
    parser.add_argument("--profile", action="store_true", help="cProfile rq worker 0 (written on exit)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 30.0
    rates = [float(r) for r in args.rates.split(",")]
    if not args.officials:
        args.officials = (args.burst or int(sum(rates) * args.stage) if args.find_rate or args.burst
                          else int(args.rate * args.duration)) + 500
    pg, redis, sink, standin, service, users, proposal_id, logdir = build(args)
    report: dict = {"args": vars(args), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    try:
        surge = Surge(args, service, sink, standin, users, proposal_id)
        time.sleep(2)  # workers finish importing
        cpu_before = cpu_snapshot(service, pg)
        wall = time.time()
        if args.burst:
            report["burst"] = run_burst(surge, args.burst)
        elif args.find_rate:
            report["find_rate"] = run_find_rate(surge, rates, args.stage)
        else:
            report.update(run_surge(surge, args, pg, redis, service, sink))
        report["load_after"] = os.getloadavg()
        cpu_after = cpu_snapshot(service, pg)
        report["cpu_s"] = {k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_before}
        report["wall_s"] = round(time.time() - wall, 1)
    finally:
        service.stop()
        if args.profile:
            report["profile"] = str(logdir / "worker0.prof")
        sink.stop()
        standin.shutdown()
        redis.stop()
        pg.destroy()
    return print_report(report)


def run_surge(surge: Surge, args, pg, redis, service, sink) -> dict:
    faults = Faults(args, pg, redis, service, sink)
    t0 = time.time()
    injector = None
    if not args.no_faults:
        injector = threading.Thread(target=faults.run, args=(t0, args.duration), daemon=True)
        injector.start()
    print(f"load: {args.rate:g} taps/s for {args.duration:g} s", flush=True)
    start, end = surge.paced(args.rate, args.duration)
    if injector:
        injector.join()
    counts = surge.wait_settled(args.settle)
    result = check(surge, counts)
    result.update({"load_start": start, "load_end": end, "faults": faults.log})
    lat = surge.latencies()
    result["latency"] = window_latencies(surge, lat, faults.log)
    result["recovery"] = [{"fault": f["name"], **recovery(surge.tapped, lat, f, faults.log, P99_LIMIT)}
                          for f in faults.log]
    result["smtp_recovery"] = [smtp_recovery(surge, f, counts) for f in faults.log if f["name"].startswith("SMTP")]
    if args.pg_kill and result["lost_taps"]:
        result["retap"] = retap(surge, result["lost_taps"])
    return result


def smtp_recovery(surge: Surge, fault: dict, counts: dict) -> dict:
    """The mail retries: the mails whose send failed (the outbox rows sent after a failed attempt),
    and when the last of them was sent, from the sink's return: the recovery proper. Also the
    officials who tapped before the sink came back and had no code by then (that includes the
    taps still queued behind a backlog) and when the last of those codes arrived."""
    last_retry = (counts or {}).get("last_retry_sent")
    retried = {"retried_mails": (counts or {}).get("retried_mails"),
               "last_retry_sent_s": round(last_retry - fault["end"], 1) if last_retry else None}
    email_of = [mail for _, mail in surge.users]
    with surge.sink.lock:
        first = {mail: min(v)[0] for mail, v in surge.sink.mails.items() if v}
    held = [first.get(email_of[i]) for i, at in surge.tapped.items()
            if at <= fault["end"] and first.get(email_of[i], float("inf")) > fault["end"]]
    arrived = [at for at in held if at is not None]
    return {"fault": fault["name"], **retried, "held_up": len(held), "never_arrived": len(held) - len(arrived),
            "recovery_s": round(max(arrived) - fault["end"], 1) if arrived else None}


def window_latencies(surge: Surge, lat: dict[int, float], faults: list[dict], tail: float = 30.0) -> dict:
    inside, outside = [], []
    for index, value in lat.items():
        at = surge.tapped[index]
        (inside if any(f["start"] <= at <= f["end"] + tail for f in faults) else outside).append(value)
    return {"all": percentiles(list(lat.values())), "outside": percentiles(outside), "inside": percentiles(inside),
            "window": f"fault start .. fault end + {tail:g} s"}


def check(surge: Surge, counts: dict) -> dict:
    """Seconds counted against confirmations made; code emails per tap; what was lost or doubled."""
    per_official = counts.get("per_official", {})
    with surge.lock:
        tapped = dict(surge.tap_result)
        confirmed = {i: how for i, how in surge.confirmed.items() if how in ("chat", "email")}
    with surge.sink.lock:
        mails = {m: len(v) for m, v in surge.sink.mails.items()}
    email_of = [mail for _, mail in surge.users]
    doubled_mail = {email_of[i]: mails[email_of[i]] for i in tapped if mails.get(email_of[i], 0) > 1}
    no_code = [email_of[i] for i, status in tapped.items() if status == 200 and not mails.get(email_of[i])]
    refused = [email_of[i] for i, status in tapped.items() if status != 200]
    confirmed_mails = {email_of[i] for i in confirmed}
    not_counted = sorted(confirmed_mails - set(per_official))
    counted_unconfirmed = sorted(set(per_official) - confirmed_mails)
    doubled_seconds = {m: c for m, c in per_official.items() if c > 1}
    return {"taps": len(tapped), "taps_refused": len(refused), "code_emails": sum(mails.values()),
            "officials_with_code": sum(1 for i in tapped if mails.get(email_of[i])),
            "doubled_code_emails": doubled_mail, "lost_taps": no_code, "confirmations": len(confirmed),
            "confirmations_by": {k: sum(1 for v in confirmed.values() if v == k) for k in ("chat", "email")},
            "confirm_outcomes": dict(surge.confirm_outcomes), "second_rows": sum(per_official.values()),
            "second_count": counts.get("second_count"), "not_counted": not_counted,
            "counted_unconfirmed": counted_unconfirmed, "doubled_seconds": doubled_seconds,
            "events": counts.get("events"), "outbox": counts.get("outbox")}


def retap(surge: Surge, lost_mails: list[str]) -> dict:
    """The design's promise for an event lost with PostgreSQL: the official simply taps again."""
    start = time.time()
    for mail in lost_mails:
        surge.tap(surge.by_mail[mail][0], time.time())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(m not in surge.sink.mails for m in lost_mails):
        time.sleep(0.5)
    got = [m for m in lost_mails if m in surge.sink.mails]
    return {"retapped": len(lost_mails), "got_code": len(got), "seconds": round(time.time() - start, 1)}


def run_burst(surge: Surge, count: int) -> dict:
    print(f"burst: {count} taps at once", flush=True)
    start, taps_done = surge.burst(count)
    last_code = last_second = None
    deadline = time.monotonic() + 1800
    confirmed_target = None
    while time.monotonic() < deadline:
        if last_code is None and surge.sink.code_count() >= count:
            last_code = max(v[0][0] for v in surge.sink.mails.values())
        counts = surge.db_counts()
        if last_code is not None:
            with surge.lock:
                pending = sum(1 for v in surge.confirmed.values() if v == "pending")
                confirmed_target = sum(1 for v in surge.confirmed.values() if v in ("chat", "email"))
            if counts and not pending and surge.confirm_q.empty() and counts["second_count"] >= confirmed_target:
                last_second = time.time()
                break
        time.sleep(0.2)
    result = {"n": count, "taps_s": round(taps_done - start, 1)}
    if last_code:
        result.update({"last_code_s": round(last_code - start, 1), "codes_per_s": round(count / (last_code - start), 1)})
    if last_second:
        result.update({"last_second_s": round(last_second - start, 1),
                       "officials_per_s": round(count / (last_second - start), 1)})
    result["check"] = check(surge, surge.db_counts() or {})
    return result


def run_find_rate(surge: Surge, rates: list[float], stage: float) -> dict:
    steps, best = [], None
    for rate in rates:
        print(f"find-rate: {rate:g} taps/s for {stage:g} s", flush=True)
        before = set(surge.tapped)
        surge.paced(rate, stage)
        surge.wait_settled(120)
        lat = surge.latencies()
        stats = percentiles([v for i, v in lat.items() if i not in before])
        steps.append({"rate": rate, **stats})
        print(f"  p50 {stats['p50']:.2f} s p95 {stats['p95']:.2f} s p99 {stats['p99']:.2f} s", flush=True)
        if stats["p99"] >= P99_LIMIT:
            break
        best = rate
    return {"steps": steps, "highest_rate_p99_under_10s": best}


if __name__ == "__main__":
    sys.exit(main())
