"""An HTTP/1.1 server with persistent connections, for the stand-in.

LINE's Messaging API keeps a client's connection open between calls, and the SDK's urllib3 pool
reuses it (`bot.line_api` keeps one client a thread for that reason). werkzeug's development server
closes every connection (it always sends `Connection: close`), so against it every reply paid a new
TCP connection in the worker and a new thread in the stand-in: a cost the real API does not have,
which the surge benchmark counted against the service. This server keeps connections open: one
thread a connection, each request's body read to its Content-Length before the app runs, the
response buffered and sent with its length, so the next request on the connection starts where
this one ended.
"""
from __future__ import annotations

import http.server
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

IDLE_TIMEOUT = 60.0  # seconds an idle connection is kept before its thread ends
MAX_BODY = 16 * 1024 * 1024  # well above any body the Messaging API takes (a rich-menu image: 1 MB)


class KeepAliveServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a connection's thread never holds up shutdown
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        self.app = app
        super().__init__((host, port), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # A response leaves in one write (buffered, flushed by the base class after each request) with
    # Nagle off: headers and body sent apart on a kept connection meet the client's delayed ACK
    # and wait ~40 ms each.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: KeepAliveServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the calls are recorded in /__standin/calls

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._plain(411, b"Content-Length required")  # no client of the stand-in streams a body
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._plain(400 if length < 0 else 413, b"bad Content-Length")
            return
        data = self.rfile.read(length) if length else b""
        host, port = self.server.server_address[:2]
        builder = EnvironBuilder(path=self.path, method=self.command, base_url=f"http://{host}:{port}",
                                 headers=[(k, v) for k, v in self.headers.items()
                                          if k.lower() not in ("content-length", "host")],
                                 data=data, environ_overrides={"REMOTE_ADDR": self.client_address[0]})
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        app_iter, status, headers = run_wsgi_app(self.server.app, environ, buffered=True)
        try:
            body = b"".join(app_iter)
        finally:
            getattr(app_iter, "close", lambda: None)()
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _plain(self, code: int, text: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(text)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve
