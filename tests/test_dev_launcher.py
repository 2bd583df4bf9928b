"""Issue 10 item 8: the development launcher stays on this machine and keeps to its own Redis and queue."""
from __future__ import annotations

from pathlib import Path

from devtools.run import choose_redis, commands
from tests.fixtures_app import TEST_REDIS_URL


def test_the_launcher_never_joins_a_shared_redis_database_0():
    assert choose_redis({})[0] is None  # nothing set: the embedded server
    assert choose_redis({"REDIS_URL": "redis://127.0.0.1:6379/0"})[0] is None  # answers, but database 0
    assert choose_redis({"REDIS_URL": "redis://127.0.0.1:6379"})[0] is None
    assert "database 0" in choose_redis({"REDIS_URL": "redis://127.0.0.1:6379/0"})[1]
    assert choose_redis({"REDIS_URL": "redis://127.0.0.1:1/7"})[0] is None  # nothing answers there
    assert choose_redis({"REDIS_URL": TEST_REDIS_URL}) == (TEST_REDIS_URL, "REDIS_URL")


def test_the_launcher_binds_loopback_and_names_the_queue_after_the_service():
    env = {"REDIS_URL": "redis://127.0.0.1:6390/0"}
    procs = commands(env, 5123, Path("/venv/bin"), ["flask"])
    assert procs["web"][procs["web"].index("--bind") + 1] == "127.0.0.1:5123"
    assert procs["worker"][-1] == "taichung-platform" and env["RQ_QUEUE"] == "taichung-platform"
    opened = commands({"REDIS_URL": "redis://x/3", "DEV_BIND": "0.0.0.0", "RQ_QUEUE": "p2"}, 5123, Path("/b"), ["f"])
    assert "0.0.0.0:5123" in opened["web"] and opened["worker"][-1] == "p2"


def test_jobs_go_to_the_service_queue(app):
    from jobs.queue import get_queue

    app.config["RQ_QUEUE"] = "taichung-platform"
    assert get_queue().name == "taichung-platform"
    assert "default" not in Path("Procfile").read_text().split("worker:", 1)[1].split("\n", 1)[0].split()
