"""`platform-dev` (README's first command): the whole service on one machine with nothing installed.

Starts, with embedded defaults: SQLite, the LINE API stand-in, an SMTP sink whose mail shows at
/dev/mail, Redis at REDIS_URL if one answers (else an embedded fakeredis server on loopback), then
the Procfile's three processes: web (gunicorn), worker (rq) and scheduler (the deadlines sweep).
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _redis_answers(url: str) -> bool:
    try:
        from redis import Redis

        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


def start_embedded_redis(port: int) -> str:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    return f"redis://127.0.0.1:{port}/0"  # the launcher's own server: its database 0 is ours alone


def start_smtp_sink(port: int, folder: Path):
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.eml"
            (folder / name).write_bytes(envelope.original_content)
            print(f"[mail] to {', '.join(envelope.rcpt_tos)} → /dev/mail/{name}", flush=True)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def choose_redis(env) -> tuple[str | None, str]:
    """The Redis the launcher uses: REDIS_URL when it is set, answers and names a database other
    than 0 (a shared machine's database 0 belongs to whoever got there first); otherwise None,
    meaning the embedded one. Never a Redis that merely happens to answer at localhost."""
    url = env.get("REDIS_URL")
    if not url:
        return None, "embedded: REDIS_URL is not set"
    database = urlparse(url).path.strip("/") or "0"
    if database == "0" and "db=" not in url:
        return None, f"embedded: REDIS_URL {url} names database 0, which may be shared; give a database of its own"
    if not _redis_answers(url):
        return None, f"embedded: no Redis answered at {url}"
    return url, "REDIS_URL"


def commands(env, port: int, bin_dir: Path, flask: list[str]) -> dict[str, list[str]]:
    """The Procfile's three processes, the web one on loopback unless DEV_BIND says otherwise."""
    bind = env.get("DEV_BIND", "127.0.0.1")
    queue = env.setdefault("RQ_QUEUE", "taichung-platform")
    return {
        "web": [str(bin_dir / "gunicorn"), "--workers", "2", "--threads", "4", "--bind", f"{bind}:{port}",
                "webapp:create_app()"],
        "worker": [str(bin_dir / "rq"), "worker", "--url", env["REDIS_URL"], "--worker-class",
                   "webapp.worker.AppWorker", queue],
        "scheduler": flask + ["deadlines", "scheduler"],
    }


def main() -> None:
    root = Path.cwd()
    env = os.environ
    port = int(env.get("PORT", "5000"))
    env.setdefault("DEV_SECRET_KEY", secrets.token_hex(32))
    env.setdefault("PUBLIC_BASE_URL", f"http://localhost:{port}")
    env.setdefault("DATABASE_URL", f"sqlite:///{root / 'instance' / 'platform.db'}")
    mail_dir = root / "instance" / "mail"
    env.setdefault("DEV_MAIL_DIR", str(mail_dir))
    services = []
    standin_started = False

    wanted = {"PORT": port}
    if "LINE_API_ENDPOINT" not in env:
        wanted["LINE_STANDIN_PORT"] = int(env.get("LINE_STANDIN_PORT", "8091"))
    if "MAIL_SERVER" not in env:
        wanted["DEV_SMTP_PORT"] = int(env.get("DEV_SMTP_PORT", "8025"))
    taken = [f"{name}={value}" for name, value in wanted.items() if not _free(value)]
    if taken:
        sys.exit(f"port(s) already in use: {', '.join(taken)} — is another platform-dev running? "
                 "Stop it, or set these variables to free ports.")

    if "LINE_API_ENDPOINT" not in env:
        from devtools.line_standin import serve_in_thread

        standin = serve_in_thread(port=int(env.get("LINE_STANDIN_PORT", "8091")))
        env["LINE_API_ENDPOINT"] = standin.url
        standin_started = True
        services.append(f"LINE API stand-in   {standin.url}")
    if "MAIL_SERVER" not in env:
        smtp_port = int(env.get("DEV_SMTP_PORT", "8025"))
        start_smtp_sink(smtp_port, mail_dir)
        env["MAIL_SERVER"], env["MAIL_PORT"] = "127.0.0.1", str(smtp_port)
        services.append(f"SMTP sink           127.0.0.1:{smtp_port} (mail at http://localhost:{port}/dev/mail)")
    redis_url, note = choose_redis(env)
    if redis_url is None:
        embedded_port = int(env.get("DEV_REDIS_PORT", "6390"))
        redis_url = start_embedded_redis(embedded_port)
    env["REDIS_URL"] = redis_url
    services.append(f"Redis               {redis_url} ({note})")

    flask = [sys.executable, "-m", "flask", "--app", "webapp"]
    subprocess.run(flask + ["db", "init"], check=True)
    _import_agencies_once(flask)

    processes = commands(env, port, Path(sys.executable).parent, flask)
    children = {name: subprocess.Popen(cmd, env=env) for name, cmd in processes.items()}
    if standin_started:  # the simulator shows the rich menu, as LINE would
        subprocess.Popen(flask + ["line", "richmenu"], env=env, stdout=subprocess.DEVNULL)
    time.sleep(1.5)
    print("\n" + "=" * 70)
    print(f"  LINE simulator:   http://localhost:{port}/dev/line")
    print(f"  Sent mail:        http://localhost:{port}/dev/mail")
    print(f"  Public site:      http://localhost:{port}/")
    print(f"  Staff console:    http://localhost:{port}/console/  (flask --app webapp staff create ...)")
    for line in services:
        print(f"  {line}")
    print("  Database:        ", env["DATABASE_URL"])
    print("=" * 70 + "\n  Ctrl-C stops everything.\n", flush=True)

    def stop(*_):
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        os._exit(0)  # the SMTP sink and fakeredis threads must not keep the launcher alive

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping", flush=True)
                stop()
        time.sleep(1)


def _import_agencies_once(flask: list[str]) -> None:
    from webapp import create_app

    app = create_app()
    with app.app_context():
        from models.agencies import Agency

        if Agency.select().exists():
            return
    subprocess.run(flask + ["agencies", "import", "data/agencies.csv"], check=False)


if __name__ == "__main__":
    main()
