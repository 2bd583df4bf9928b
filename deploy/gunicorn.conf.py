"""gunicorn settings for production (deploy/systemd/taichung-platform-web.service).

Loopback only: nginx is the one door (deploy/nginx/), and it holds slow clients so that these
threads only ever see whole requests.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
keepalive = 30  # longer than nginx's upstream keepalive use, so nginx closes first
accesslog = "-"
forwarded_allow_ips = "127.0.0.1"
# nginx bounds the request line and the headers (large_client_header_buffers 4 16k) and answers what is
# over with its zh-TW page. gunicorn's own, lower limits (a 4,094-byte line, 8,190-byte fields, 100
# headers) would refuse what nginx let through with an English "URI Too Long" or "Request Header Fields
# Too Large", so they are raised to nginx's: nginx is the one door, and these threads see only what it passed.
limit_request_line = 0  # no limit of its own (gunicorn 27: 0 is none for the line)
limit_request_field_size = 16 * 1024 + 8  # one of nginx's 16k buffers (0 here would mean gunicorn's 8,190)
limit_request_fields = 32768  # gunicorn's maximum


def child_exit(server, worker):
    """Prometheus multiprocess mode: a dead worker's gauges must not linger."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """With a sentence model, load it and this process's proposal vectors before the worker takes a request, as
    the RQ workers do (webapp/worker.py). Otherwise the first console page that shows similar proposals, after
    each start, waits seconds for them. Never fails the worker: `warm` logs what it could not load, and the
    first search tries again."""
    from models import similar_vectors

    with worker.wsgi.app_context():  # the app gunicorn has just loaded; its teardown closes the connection
        similar_vectors.warm()
