"""Long-running processes survive a PostgreSQL restart (issue 13: the surge's clean restart).

The server dropping a connection is played by pg_terminate_backend on the process's own backend,
which is what a restart does to every session.
"""
from __future__ import annotations

import psycopg2

from models.outbox import Outbox, queue_mail, unit_of_work


def _terminate(schema_url: str, pid: int) -> None:
    admin = psycopg2.connect(schema_url.replace("postgres://", "postgresql://", 1))
    admin.autocommit = True
    admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


def test_r3_2_a_worker_whose_connection_the_server_dropped_reconnects_before_its_next_job(app, smtp, schema):
    from models import db
    from models.base import ensure_connection

    db.connect(reuse_if_open=True)
    pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    _terminate(schema, pid)
    ensure_connection()  # what the worker does before each job
    assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != pid
    with unit_of_work():  # and the job's work is done, its notice sent
        queue_mail("after-restart@taichung.gov.tw", "主旨", "內容")
    assert Outbox.get().status == "sent" and len(smtp.to("after-restart@taichung.gov.tw")) == 1


def test_r3_0_the_dispatcher_listen_connection_is_replaced_after_a_restart(app, schema):
    from jobs.scheduler import _listener, _wait

    app.config["LINE_DISPATCH"] = "listen"
    listener = _listener(app.config)
    assert listener is not None
    _terminate(schema, listener.get_backend_pid())
    # The first wake reads the server's goodbye, the next finds the connection gone: reported as
    # lost (None), never raised (the scheduler process used to die here and dispatch stopped).
    results = [_wait(listener, 2.0) for _ in range(3)]
    assert None in results and results[-1] is None
    again = _listener(app.config)
    assert again is not None and _wait(again, 0.01) is again
    again.close()
