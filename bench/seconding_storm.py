"""Seconding storm (R9.3): N officials second one proposal through the real path, at once.

Not a test: a measurement. It starts the service as the Procfile does (gunicorn `webapp:create_app()`
with WEB_CONCURRENCY workers x GUNICORN_THREADS threads, plus `rq worker` processes) on its own
PostgreSQL database (created and dropped) and Redis db 14, with an SMTP sink (aiosmtpd, in this
process) and the LINE stand-in (devtools.line_standin, in this process). Then:

1. creates N verified officials directly in the database and one proposal in seconding;
2. phase "postback": every official taps 附議 (a signed webhook postback `sec.confirm`);
3. reads every emailed code from the SMTP sink;
4. phase "code": every official types the code (a signed webhook text message);
5. waits until every second is counted, then checks the counts;
6. ceiling: a bare Flask app that only verifies the LINE signature and answers 200, under the
   same gunicorn settings, receives the same 2N bodies.

Usage:  .venv/bin/python bench/seconding_storm.py [--n 5000] [--concurrency 32] [--rq-workers 4]
Targets: webhook req/s >= 0.5 x the ceiling, p99 < 150 ms, counts exact, < 120 MB per web worker.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CHANNEL_SECRET = "bench-channel-secret"
CODE_RE = re.compile(r"認證碼是：(\d{6})")


def bare_app():
    """The ceiling: verify the signature as the real webhook does, store nothing, answer 200."""
    from flask import Flask, abort, request
    from linebot.v3.webhook import SignatureValidator

    app = Flask("bare")
    validator = SignatureValidator(os.environ.get("LINE_CHANNEL_SECRET", CHANNEL_SECRET))

    @app.post("/line/webhook")
    def webhook():
        body = request.get_data(cache=False).decode("utf-8", errors="replace")
        if not validator.validate(body, request.headers.get("X-Line-Signature", "")):
            abort(400)
        return "OK", 200

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


# --- infrastructure ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    """aiosmtpd on loopback; keeps the seconding code of each recipient and counts every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.codes: dict[str, list[str]] = {}
        self.total = 0
        self.other = 0
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
                part = message.get_body(preferencelist=("plain",))
                match = CODE_RE.search(part.get_content() if part else "")
                with sink.lock:
                    sink.total += 1
                    if match and "附議認證碼" in str(message["Subject"]):
                        for rcpt in envelope.rcpt_tos:
                            sink.codes.setdefault(rcpt.lower(), []).append(match.group(1))
                    else:
                        sink.other += 1
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def code_count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.codes.values())

    def stop(self):
        self.controller.stop()


def wait_http(port: int, path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}{path}")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def gunicorn(app_spec: str, port: int, env: dict, log: Path, chdir: Path = ROOT) -> subprocess.Popen:
    """The Procfile's web line, with its defaults (WEB_CONCURRENCY=2, GUNICORN_THREADS=4)."""
    cmd = [str(VENV_BIN / "gunicorn"), "--workers", env.get("WEB_CONCURRENCY", "2"),
           "--threads", env.get("GUNICORN_THREADS", "4"), "--bind", f"127.0.0.1:{port}",
           "--access-logfile", "-", "--chdir", str(chdir), app_spec]
    return subprocess.Popen(cmd, env=env, cwd=chdir, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# --- the driver -------------------------------------------------------------------------------

def fire(port: int, bodies: list[bytes], concurrency: int) -> dict:
    """POST every (pre-signed) body to /line/webhook from `concurrency` keep-alive connections."""
    from devtools.line_standin import sign

    signed = [(body, sign(body, CHANNEL_SECRET)) for body in bodies]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    index = iter(range(len(signed)))
    next_lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        barrier.wait()
        while True:
            with next_lock:
                i = next(index, None)
            if i is None:
                break
            body, signature = signed[i]
            start = time.perf_counter()
            for attempt in range(3):
                try:
                    conn.request("POST", "/line/webhook", body=body, headers={
                        "Content-Type": "application/json; charset=utf-8", "X-Line-Signature": signature,
                        "User-Agent": "LineBotWebhook/2.0"})
                    resp = conn.getresponse()
                    resp.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    if attempt == 2:
                        raise
            mine.append(time.perf_counter() - start)
            codes[resp.status] = codes.get(resp.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed if elapsed else 0,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0,
            "statuses": statuses}


# --- the run ----------------------------------------------------------------------------------

def setup_database(url: str, n: int) -> tuple[int, list[tuple[str, str]]]:
    """Schema, agencies, N verified officials and one proposal in seconding. Returns (proposal id, users)."""
    from models import db, settings
    from models.agencies import import_agencies
    from models.base import connect_database, utcnow
    from models.officials import Official
    from models.proposals import Proposal, pass_review
    from webapp.schema import create_schema as create_tables

    connect_database(url)
    create_tables()
    import_agencies(str(ROOT / "data" / "agencies.csv"))
    now = utcnow()
    users = [(f"U{uuid.uuid4().hex}", f"storm{i:06d}@taichung.gov.tw") for i in range(n)]
    rows = [{"line_user_id": uid, "status": "verified", "real_name": f"同仁{i}", "nickname": f"同仁{i}",
             "display_choice": "nickname", "phone": "0912-345-678", "email": mail, "verified_email": mail,
             "address": "臺中市西屯區臺灣大道三段99號", "agency_code": "RDEC", "verified_at": now, "created_at": now,
             "terms_version": settings.TERMS_VERSION, "terms_accepted_at": now}  # R4: terms accepted
            for i, (uid, mail) in enumerate(users)]
    with db.atomic():
        for start in range(0, len(rows), 1000):
            Official.insert_many(rows[start:start + 1000]).execute()
        proposer = Official.create(line_user_id=f"U{uuid.uuid4().hex}", status="verified", nickname="提案人",
                                   display_choice="nickname", email="proposer@taichung.gov.tw",
                                   verified_email="proposer@taichung.gov.tw", verified_at=now)
        proposal = Proposal.create(proposer=proposer, state="submitted", scope="rights", title="公務人員彈性上班時間再放寬",
                                   content="建議將彈性上班時間放寬為上午七點至十點。", benefits="兼顧育兒與通勤。",
                                   agency_code="PERSONNEL", submitted_at=now, first_submitted_at=now)
        pass_review(proposal.id, "staff:bench", now=now)
    db.close()
    return proposal.id, users


def counts(url: str, proposal_id: int) -> dict:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT state, second_count, established_at FROM proposal WHERE id = %s", (proposal_id,))
        state, count, established_at = cur.fetchone()
        cur.execute("SELECT count(*) FROM second WHERE proposal_id = %s", (proposal_id,))
        seconds = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT official_id FROM second GROUP BY official_id, proposal_id "
                    "HAVING count(*) > 1) d")
        dup_seconds = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM line_event WHERE status <> 'done'")
        unprocessed = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM outbox WHERE status <> 'sent'")
        unsent = cur.fetchone()[0]
        return {"state": state, "second_count": count, "seconds": seconds, "dup_seconds": dup_seconds,
                "established_at": established_at, "unprocessed_events": unprocessed, "unsent_outbox": unsent}
    finally:
        conn.close()


def establishment_delay(url: str, proposal_id: int, threshold: int = 200) -> dict:
    """From the webhook of the code that became the 200th second to the established state."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        cur.execute("""SELECT s.created_at, o.line_user_id FROM second s JOIN official o ON o.id = s.official_id
                       WHERE s.proposal_id = %s ORDER BY s.id OFFSET %s LIMIT 1""", (proposal_id, threshold - 1))
        row = cur.fetchone()
        if row is None:
            return {}
        confirmed_at, uid = row
        cur.execute("SELECT established_at FROM proposal WHERE id = %s", (proposal_id,))
        established_at = cur.fetchone()[0]
        cur.execute("""SELECT max(received_at) FROM line_event WHERE user_id = %s AND event_type = 'message'""", (uid,))
        received_at = cur.fetchone()[0]
        return {"confirm_to_established_ms": (established_at - confirmed_at).total_seconds() * 1000,
                "webhook_to_established_ms": (established_at - received_at).total_seconds() * 1000 if received_at else None}
    finally:
        conn.close()


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="officials (default 5000)")
    parser.add_argument("--concurrency", type=int, default=32, help="driver connections (default 32)")
    parser.add_argument("--rq-workers", type=int, default=4, help="rq worker processes (default 4)")
    parser.add_argument("--worker-class", default="webapp.worker.AppWorker",
                        help="rq worker class (default: the Procfile's, webapp.worker.AppWorker)")
    parser.add_argument("--during", choices=("pause", "run"), default="pause",
                        help="rq workers during the timed webhook phases: paused (SIGSTOP; the webhook alone, "
                             "as the ceiling is measured) or running (they share the CPUs)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the workers")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    import psycopg2
    from redis import Redis

    from devtools.line_standin import serve_in_thread

    name = f"bench_seconding_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    Redis.from_url(REDIS_URL).flushdb()
    sink, standin = MailSink(), serve_in_thread()
    logdir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / name
    logdir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    report: dict = {"during": args.during, "worker_class": args.worker_class or "rq.Worker (Procfile)", "n": args.n, "concurrency": args.concurrency, "rq_workers": args.rq_workers,
                    "web_workers": int(os.environ.get("WEB_CONCURRENCY", "2")),
                    "threads": int(os.environ.get("GUNICORN_THREADS", "4")), "cpus": os.cpu_count()}
    try:
        t0 = time.monotonic()
        proposal_id, users = setup_database(url, args.n)
        report["setup_s"] = round(time.monotonic() - t0, 1)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench-secret-key", "INBOUND_EMAIL_SECRET": "bench-inbound-secret",
               "LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": "bench-token",
               "LINE_API_ENDPOINT": standin.url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(sink.port),
               "MAIL_USE_TLS": "0", "REPLY_DOMAIN": "reply.bench.test", "ALLOWED_EMAIL_DOMAINS": "taichung.gov.tw",
               "PUBLIC_BASE_URL": "http://bench.localhost", "LINE_SIMULATOR": "0", "LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        env.pop("SECONDING_THRESHOLD", None)
        port = free_port()
        web = gunicorn("webapp:create_app()", port, env, logdir / "web.log")
        procs.append(web)
        for i in range(args.rq_workers):
            cmd = [str(VENV_BIN / "rq"), "worker", "--url", REDIS_URL]
            if i == 0:
                cmd.append("--with-scheduler")
            if args.worker_class:
                cmd += ["--worker-class", args.worker_class]
            cmd.append("taichung-platform")  # jobs.queue.QUEUE_NAME
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=(logdir / f"rq{i}.log").open("ab"),
                                          stderr=subprocess.STDOUT, start_new_session=True))
        # The Procfile's scheduler: the deadlines sweep and the LINE event dispatcher (LISTEN).
        procs.append(subprocess.Popen([str(VENV_BIN / "flask"), "--app", "webapp", "deadlines", "scheduler"],
                                      env=env, cwd=ROOT, stdout=(logdir / "scheduler.log").open("ab"),
                                      stderr=subprocess.STDOUT, start_new_session=True))
        wait_http(port)
        uids = [uid for uid, _ in users]
        workers = procs[1:]

        def pause_workers():
            if args.during == "pause":
                time.sleep(1)  # let the workers finish their start-up (imports) first
                for proc in workers:
                    os.killpg(proc.pid, signal.SIGSTOP)

        def resume_workers():
            for proc in workers:
                os.killpg(proc.pid, signal.SIGCONT)

        # Phase 1: every official taps 附議 (sec.confirm).
        postbacks = []
        from devtools.line_standin import make_body, make_event

        with standin.state.lock:
            for uid in uids:
                event = make_event("postback", uid, data=f"a=sec.confirm&p={proposal_id}&notify=0")
                standin.state.reply_tokens[event["replyToken"]] = {"used": False, "registered": "", "userId": uid}
                postbacks.append(make_body([event]))
        pause_workers()
        report["postback"] = fire(port, postbacks, args.concurrency)
        resume_workers()
        t_mail = time.monotonic()
        wait_for(lambda: sink.code_count() >= args.n, args.timeout, f"{args.n} code emails")
        report["all_codes_mailed_s"] = round(time.monotonic() - t_mail, 1)

        # Phase 2: every official types the code from the email.
        texts = []
        with sink.lock:
            latest = {addr: codes[-1] for addr, codes in sink.codes.items()}
        with standin.state.lock:
            for uid, mail in users:
                event = make_event("text", uid, text=latest[mail])
                standin.state.reply_tokens[event["replyToken"]] = {"used": False, "registered": "", "userId": uid}
                texts.append(make_body([event]))
        pause_workers()
        report["code"] = fire(port, texts, args.concurrency)
        from models.base import utcnow

        resumed_at = utcnow()
        resume_workers()
        t_codes = time.monotonic()
        wait_for(lambda: counts(url, proposal_id)["second_count"] >= args.n, args.timeout, f"{args.n} seconds")
        report["all_seconds_counted_s"] = round(time.monotonic() - t_codes, 1)
        wait_for(lambda: counts(url, proposal_id)["unprocessed_events"] == 0, 120, "every event processed")
        time.sleep(2)
        report["web_worker_peak_rss_mb"] = [round(peak_rss_mb(pid), 1) for pid in children(web.pid)]
        report["final"] = counts(url, proposal_id)
        report["final"]["established_at"] = str(report["final"]["established_at"])
        report["establishment"] = establishment_delay(url, proposal_id)
        if args.during == "pause" and report["final"]["state"] == "established":
            import datetime as dt

            established = dt.datetime.fromisoformat(report["final"]["established_at"])
            report["establishment"]["resume_to_established_ms"] = (established - resumed_at).total_seconds() * 1000
        with sink.lock:
            report["emails"] = {"code_emails": sum(len(v) for v in sink.codes.values()), "other": sink.other,
                                "duplicate_code_emails": sum(len(v) - 1 for v in sink.codes.values() if len(v) > 1),
                                "officials_without_code": args.n - len(sink.codes)}
        replies = [d for d in standin.state.deliveries if d.get("kind") == "reply"] \
            if hasattr(standin.state, "deliveries") else []
        report["line_replies"] = len(replies)
        for proc in procs:
            stop(proc)
        procs.clear()

        # Ceiling: the bare app, same gunicorn settings, the same 2N bodies.
        bare_port = free_port()
        bare = gunicorn("seconding_storm:bare_app()", bare_port, env, logdir / "bare.log", chdir=ROOT / "bench")
        procs.append(bare)
        wait_http(bare_port)
        report["bare"] = fire(bare_port, postbacks + texts, args.concurrency)
        report["bare_worker_peak_rss_mb"] = [round(peak_rss_mb(pid), 1) for pid in children(bare.pid)]
    finally:
        for proc in procs:
            stop(proc)
        sink.stop()
        standin.shutdown()
        if not args.keep_db:
            admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                   "AND pid <> pg_backend_pid()", (name,))
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    print_report(report)
    return 0 if report_ok(report) else 1


def service_rps(report: dict) -> float:
    total = report["postback"]["requests"] + report["code"]["requests"]
    return total / (report["postback"]["seconds"] + report["code"]["seconds"])


def report_ok(report: dict) -> bool:
    n, final, mails = report["n"], report["final"], report["emails"]
    return (final["second_count"] == n == final["seconds"] and mails["code_emails"] == n
            and mails["duplicate_code_emails"] == 0 and final["dup_seconds"] == 0)


def print_report(report: dict) -> None:
    n = report["n"]
    svc = service_rps(report)
    bare = report["bare"]["rps"]
    p99 = max(report["postback"]["p99_ms"], report["code"]["p99_ms"])
    p50 = statistics.median([report["postback"]["p50_ms"], report["code"]["p50_ms"]])
    rss = max(report["web_worker_peak_rss_mb"] or [0])
    final, mails = report["final"], report["emails"]
    lines = [
        f"seconding storm: N={n}, {report['web_workers']} web workers x {report['threads']} threads, "
        f"{report['rq_workers']} rq workers ({report['worker_class']}, {report['during']} during the webhook phases), "
        f"{report['concurrency']} client connections, {report['cpus']} CPUs",
        f"  webhook (service)   {svc:8.0f} req/s   postback {report['postback']['rps']:.0f} req/s "
        f"p50 {report['postback']['p50_ms']:.1f} ms p99 {report['postback']['p99_ms']:.1f} ms | "
        f"code {report['code']['rps']:.0f} req/s p50 {report['code']['p50_ms']:.1f} ms p99 {report['code']['p99_ms']:.1f} ms",
        f"  webhook (bare)      {bare:8.0f} req/s   p50 {report['bare']['p50_ms']:.1f} ms p99 {report['bare']['p99_ms']:.1f} ms",
        f"  ratio               {svc / bare if bare else 0:8.2f}        (target >= 0.5)",
        f"  latency             p50 {p50:.1f} ms, p99 {p99:.1f} ms   (target p99 < 150 ms)",
        f"  valid seconds       {final['second_count']} (rows {final['seconds']}; must equal {n}), state {final['state']}",
        f"  code emails sent    {mails['code_emails']} (must equal {n}); other emails {mails['other']}",
        f"  duplicates          {mails['duplicate_code_emails'] + final['dup_seconds']} "
        f"(code emails {mails['duplicate_code_emails']}, seconds {final['dup_seconds']}; must be 0)",
        f"  200th -> established {report['establishment'].get('confirm_to_established_ms', 0):.1f} ms after the confirmation, "
        f"{(report['establishment'].get('webhook_to_established_ms') or 0):.0f} ms after its webhook arrived"
        + (f" ({report['establishment']['resume_to_established_ms']:.0f} ms after the workers resumed)"
           if "resume_to_established_ms" in report["establishment"] else ""),
        f"  web worker peak RSS {', '.join(f'{v:.0f}' for v in report['web_worker_peak_rss_mb'])} MB "
        f"(max {rss:.0f}; target < 120); bare {', '.join(f'{v:.0f}' for v in report['bare_worker_peak_rss_mb'])} MB",
        f"  end to end          codes mailed {report['all_codes_mailed_s']} s after the taps; "
        f"all seconds counted {report['all_seconds_counted_s']} s after the code phase; LINE replies {report['line_replies']}",
        f"  statuses            service {report['postback']['statuses']} {report['code']['statuses']}, bare {report['bare']['statuses']}",
    ]
    print("\n".join(lines))
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    sys.exit(main())
