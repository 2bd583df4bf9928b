"""The isolated stack of bench/surge.py: its own PostgreSQL cluster and redis-server (the faults
are injected into these only), the service's Procfile processes, an SMTP sink that can be taken
down, and a rate-paced webhook/inbound-mail client.

Never touches the shared PostgreSQL (5432) or Redis (6379).
"""
from __future__ import annotations

import email
import email.header
import email.parser
import email.policy
import hashlib
import hmac
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from seconding_storm import CHANNEL_SECRET, ROOT, VENV_BIN, free_port, gunicorn, stop, wait_http

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
CODE_RE = re.compile(r"認證碼是：(\d{6})")
INBOUND_SECRET = "bench-inbound-secret"


def _as_postgres() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres OS user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PgCluster:
    """A throw-away cluster: initdb into a temp dir, listening on 127.0.0.1:<port> only."""

    def __init__(self, port: int = 55432):
        self.port = port if _port_free(port) else free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="surge_pg_"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        subprocess.run(_as_postgres() + [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, stdout=subprocess.DEVNULL)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       "max_connections = 200\nshared_buffers = 256MB\nfsync = on\n"
                       + os.environ.get("SURGE_PG_CONF", "").replace(";", "\n") + "\n")
        self.start()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres() + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                                         str(self.dir / "pg.log"), "-w", *args], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self._ctl("start")

    def restart_fast(self) -> None:
        """A clean restart (`pg_ctl restart -m fast`: open sessions are ended, nothing is lost)."""
        self._ctl("restart", "-m", "fast")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (a crash), then start it again (crash recovery)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [pid] + _descendants(pid)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.05)
        self.start()

    def destroy(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.copy(self.dir / "pg.log", Path(tempfile.gettempdir()) / "surge_pg_last.log")
        shutil.rmtree(self.dir, ignore_errors=True)


def _port_free(port: int) -> bool:
    """Nothing listens there and no old connection holds it (a client may have used it as its own port)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _descendants(pid: int) -> list[int]:
    found = []
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return found
    for kid in kids:
        found += [kid] + _descendants(kid)
    return found


class RedisServer:
    """redis-server on its own port, no persistence."""

    def __init__(self, port: int = 56379):
        self.port = port = port if _port_free(port) else free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True)
        self.url = f"redis://127.0.0.1:{port}/0"
        from redis import Redis

        self.client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def flushall(self) -> None:
        self.client.flushall()

    def stop(self) -> None:
        stop(self.proc)


class _LazyMail:
    """A received email, read only as far as the sink needs: the subject from the headers, the code
    from a text/plain 8bit body; parsed in full (`parsed`) only when an official replies to it. Full
    parsing with the modern policy in the sink's loop was a fifth of the driver's CPU, taken from the
    same two CPUs as the service (py-spy, bench/README.md "Throughput")."""

    def __init__(self, raw: bytes):
        self.raw = raw
        self._parsed = None

    def subject(self) -> str:
        headers = email.parser.BytesHeaderParser().parsebytes(self.raw)  # compat32: no refolding
        return str(email.header.make_header(email.header.decode_header(headers["Subject"] or "")))

    def text(self) -> str:
        head, _, body = self.raw.partition(b"\r\n\r\n")
        if b"8bit" in head.lower() and b"text/plain" in head.lower():
            return body.decode("utf-8", "replace")
        part = self.parsed().get_body(preferencelist=("plain",))  # any other form: parse it properly
        return part.get_content() if part else ""

    def parsed(self) -> email.message.EmailMessage:
        if self._parsed is None:
            self._parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        return self._parsed


class Sink:
    """An SMTP sink (aiosmtpd) that keeps every code email with its arrival time; `down(True)`
    closes the port (connections refused), as a mail server that is down."""

    def __init__(self, on_code=None, port: int = 0):
        self.lock = threading.Lock()
        self.mails: dict[str, list[tuple[float, str, _LazyMail]]] = {}
        self.other = 0
        self.port = port or free_port()
        self.on_code = on_code
        self.controller = None
        self.down(False)

    def _handler(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                arrived = time.time()
                message = _LazyMail(envelope.original_content)
                match = CODE_RE.search(message.text())
                if match and "附議認證碼" in message.subject():
                    for rcpt in envelope.rcpt_tos:
                        with sink.lock:
                            sink.mails.setdefault(rcpt.lower(), []).append((arrived, match.group(1), message))
                        if sink.on_code:
                            sink.on_code(rcpt.lower(), match.group(1), message)
                else:
                    with sink.lock:
                        sink.other += 1
                return "250 OK"

        return Handler()

    def down(self, is_down: bool) -> None:
        from aiosmtpd.controller import Controller

        if is_down and self.controller is not None:
            self.controller.stop()
            self.controller = None
        elif not is_down and self.controller is None:
            self.controller = Controller(self._handler(), hostname="127.0.0.1", port=self.port)
            self.controller.start()

    def code_count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.mails.values())

    def stop(self) -> None:
        self.down(True)


class Service:
    """The Procfile's processes: gunicorn web, `rq worker` processes, the scheduler."""

    def __init__(self, env: dict, logdir: Path, rq_workers: int, profile_worker: Path | None = None,
                 port: int = 0):
        self.env, self.logdir = env, logdir
        self.port = port or free_port()
        self.web = gunicorn("webapp:create_app()", self.port, env, logdir / "web.log")
        self.workers = [self._worker(i, profile_worker if i == 0 else None) for i in range(rq_workers)]
        self.scheduler = self._spawn([str(VENV_BIN / "flask"), "--app", "webapp", "deadlines", "scheduler"],
                                     "scheduler")
        wait_http(self.port)

    def _spawn(self, cmd: list[str], name: str) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=(self.logdir / f"{name}.log").open("ab"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def _worker(self, i: int, profile: Path | None = None) -> subprocess.Popen:
        cmd = [str(VENV_BIN / "rq"), "worker", "--url", self.env["REDIS_URL"], "--worker-class",
               "webapp.worker.AppWorker", "taichung-platform"]
        if i == 0:
            cmd.insert(-1, "--with-scheduler")
        if profile:  # CPU time, not wall clock: the machine is shared, waiting is not cost
            runner = ("import cProfile, runpy, sys, time\n"
                      "prof = cProfile.Profile(time.process_time)\nsys.argv = sys.argv[1:]\nprof.enable()\n"
                      "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit:\n    pass\n"
                      f"finally:\n    prof.disable()\n    prof.dump_stats({str(profile)!r})\n")
            cmd = [str(VENV_BIN / "python"), "-c", runner] + cmd
        return self._spawn(cmd, f"rq{i}")

    def kill_worker(self, i: int = 0) -> None:
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()

    def restart_worker(self, i: int = 0) -> None:
        self.workers[i] = self._worker(i)

    def all_procs(self) -> list[subprocess.Popen]:
        return [self.web, self.scheduler, *self.workers]

    def stop(self) -> None:
        for proc in self.all_procs():
            stop(proc)


class Client:
    """Keep-alive HTTP to the service; a non-2xx or a broken connection is retried with the same body
    (LINE redelivers a webhook that failed; a mail relay retries a refused delivery)."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return self.local.conn

    def post(self, path: str, body: bytes, headers: dict, give_up_after: float = 180) -> tuple[int, bytes, int]:
        """(status, body, attempts); status 0 when every attempt failed until `give_up_after`.

        A kept connection the server closed while it was idle (gunicorn's keep-alive is 2 s) fails on
        its next request: that is tried again at once on a new connection, as urllib3 and browsers do,
        not after the back-off. Until 2026-12-04 it waited 0.5 s, and the tap latencies of paced runs
        (each of 64 senders' connections idle for longer than 2 s) carried that half second."""
        deadline, attempts, delay = time.monotonic() + give_up_after, 0, 0.5
        while True:
            attempts += 1
            reused = getattr(self.local, "conn", None) is not None and self.local.conn.sock is not None
            try:
                conn = self._conn()
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status < 500:
                    return resp.status, data, attempts
            except (OSError, http.client.HTTPException) as exc:
                self.local.conn = None
                if reused and isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)):
                    continue  # closed while idle: not the service's failure, no back-off
            if time.monotonic() > deadline:
                return 0, b"", attempts
            time.sleep(delay)
            delay = min(delay * 2, 5)

    def webhook(self, body: bytes) -> tuple[int, bytes, int]:
        from devtools.line_standin import sign

        return self.post("/line/webhook", body, {"Content-Type": "application/json; charset=utf-8",
                                                 "X-Line-Signature": sign(body, CHANNEL_SECRET)})

    def inbound_mail(self, raw: bytes) -> tuple[int, bytes, int]:
        signature = hmac.new(INBOUND_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return self.post("/email/inbound", raw, {"Content-Type": "message/rfc822",
                                                  "X-Inbound-Signature": f"sha256={signature}"})


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (clock ticks from /proc)."""
    total = 0.0
    for p in [pid] + _descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def cpu_snapshot(service: Service, pg: PgCluster) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (for 'what bounds the rate')."""
    times = os.times()
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    return {"web": tree_cpu_seconds(service.web.pid),
            "rq workers": sum(tree_cpu_seconds(w.pid) for w in service.workers),
            "scheduler": tree_cpu_seconds(service.scheduler.pid),
            "postgres": tree_cpu_seconds(postmaster),
            "bench driver + SMTP sink + LINE stand-in": times.user + times.system}
