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


def child_exit(server, worker):
    """Prometheus multiprocess mode: a dead worker's gauges must not linger."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
