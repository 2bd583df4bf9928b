"""The RQ worker class: one app per worker process, one app context around all its jobs.

Named in the Procfile (`rq worker --worker-class webapp.worker.AppWorker`). Jobs (jobs/) never
build the app themselves; they run inside the context pushed here. A `SimpleWorker` runs jobs in
its own process: the default forking worker would re-import the app for every job (seconds each).
"""
from __future__ import annotations

from rq.worker import SimpleWorker

from models import similar_vectors
from models.base import ensure_connection

from . import create_app


class AppWorker(SimpleWorker):
    def work(self, *args, **kwargs):
        app = create_app()
        with app.app_context():
            similar_vectors.warm()  # with a sentence model: loaded now, not during an official's first search
            return super().work(*args, **kwargs)

    def execute_job(self, job, queue):
        ensure_connection()  # PostgreSQL may have restarted since the last job
        return super().execute_job(job, queue)
