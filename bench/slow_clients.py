"""Slow clients against gunicorn alone and behind nginx (issue 10 item 1): how long /healthz and a
signed webhook take while N connections each hold half a request.

    .venv/bin/python -m bench.slow_clients postgresql://postgres@127.0.0.1:5432/DB redis://127.0.0.1:6379/12

The database must have the schema (`flask --app webapp db init`). Results: bench/README.md.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from devtools.line_standin import make_body, make_event, new_user_id, sign
from tests import deploy_stack
from tests.test_deploy import _get


def measure(url: str, port: int, clients: int, timeout: float) -> str:
    held = deploy_stack.slow_clients(port, clients)
    try:
        out = []
        for name in ("healthz", "webhook"):
            started = time.monotonic()
            try:
                if name == "healthz":
                    status = _get(url + "/healthz", timeout=timeout)[0]
                else:
                    body = make_body([make_event("follow", new_user_id())])
                    status = _get(url + "/line/webhook", data=body, timeout=timeout, headers={
                        "Content-Type": "application/json", "X-Line-Signature": sign(body, deploy_stack.CHANNEL_SECRET)})[0]
            except OSError as exc:
                status = type(exc).__name__
            out.append(f"{name} {status} in {time.monotonic() - started:.3f} s")
        return ", ".join(out)
    finally:
        for s in held:
            s.close()


def main() -> None:
    database_url, redis_url = sys.argv[1], sys.argv[2]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        gunicorn, gport = deploy_stack.start_gunicorn(database_url, redis_url, work)
        nginx, nport = deploy_stack.start_nginx(work, gport)
        try:
            print(f"gunicorn alone ({clients} slow clients): "
                  + measure(f"http://127.0.0.1:{gport}", gport, clients, timeout), flush=True)
            print(f"behind nginx ({clients} slow clients):   "
                  + measure(f"http://127.0.0.1:{nport}", nport, clients, timeout), flush=True)
        finally:
            deploy_stack.stop(nginx)
            deploy_stack.stop(gunicorn)


if __name__ == "__main__":
    main()
