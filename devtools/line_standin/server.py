"""The stand-in's HTTP server: the Flask app (Messaging API gate, sending messages, users and
content, with the rich-menu and control endpoints added from their modules), served over
persistent connections (`keepalive`) in a thread or alone from the command line."""
from __future__ import annotations

import argparse
import threading
from typing import Any, Self

from flask import Flask, Response, g, request

from .client import StandinClient
from .control import add_control_routes
from .events import (
    _TARGET_RE,
    _USER_ID_RE,
    _UUID_RE,
    BOT_BASIC_ID,
    BOT_DISPLAY_NAME,
    BOT_USER_ID,
    DEFAULT_DISPLAY_NAME,
    PLACEHOLDER_PNG,
)
from .keepalive import KeepAliveServer
from .responses import _error, _json, _validation_error, body
from .richmenus import add_rich_menu_routes
from .state import StandinState
from .validation import _Errors, validate_messages

# --------------------------------------------------------------------------------------------
# The Flask app
# --------------------------------------------------------------------------------------------

_FAIL_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def create_standin_app(state: StandinState | None = None) -> Flask:
    """The stand-in as a WSGI app.  ``app.extensions["line_standin"]`` is its StandinState."""
    app = Flask("line_standin")
    st = state or StandinState()
    app.extensions["line_standin"] = st

    # -- every Messaging API call: record, authenticate, injected failures ---------------------

    @app.before_request
    def _api_gate():
        if not request.path.startswith("/v2/"):
            return None
        if request.mimetype == "application/json":
            body: Any = request.get_json(silent=True)
            if body is None and request.get_data():
                g.bad_json = True
        elif request.get_data():
            body = {"_contentType": request.mimetype, "_bytes": len(request.get_data())}
        else:
            body = None
        g.call = st.record_call(request.method, request.path, body, request.headers.get("X-Line-Retry-Key"))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")
        failure = st.take_failure()
        if failure is not None:
            return _error(failure, _FAIL_MESSAGES.get(failure, "Injected failure"))
        if getattr(g, "bad_json", False):
            return _error(400, "The request body could not be parsed as JSON")
        return None

    @app.after_request
    def _note_status(resp: Response) -> Response:
        call = g.get("call")
        if call is not None:
            with st.lock:
                call["status"] = resp.status_code
        return resp

    # -- sending messages ---------------------------------------------------------------------

    @app.post("/v2/bot/message/reply")
    def reply():
        data = body()
        details = validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        token = data.get("replyToken")
        with st.lock:
            info = st.reply_tokens.get(token) if isinstance(token, str) else None
            if info is None or info["used"]:
                return _error(400, "Invalid reply token")
            info["used"] = True
            sent = st.deliver(info["userId"], data["messages"], kind="reply", api="reply", call_id=g.call["id"])
        return _json({"sentMessages": sent})

    def _retry_key() -> tuple[str | None, Response | None]:
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None, None
        if not _UUID_RE.match(key):
            return None, _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        with st.lock:
            seen = st.retry_keys.get(key)
        if seen is not None:
            payload = {"message": "The retry key is already accepted"}
            if seen.get("sentMessages"):
                payload["sentMessages"] = seen["sentMessages"]
            return key, _json(payload, 409, {"x-line-accepted-request-id": seen["requestId"]})
        return key, None

    def _send(api: str, targets: list[str], messages: list[dict], key: str | None) -> Response:
        # Called with st.lock held, so a retry key is checked and stored atomically.
        if st.quota is not None and st.quota_used + len(targets) > st.quota:
            return _error(429, "You have reached your monthly limit.")
        st.quota_used += len(targets)
        sent: list[dict] = []
        for to in targets:
            sent = st.deliver(to, messages, kind="push", api=api, call_id=g.call["id"])
        resp = _json({"sentMessages": sent} if api == "push" else {})
        if key is not None:
            st.retry_keys[key] = {"requestId": resp.headers["x-line-request-id"], "sentMessages": sent if api == "push" else None}
        return resp

    @app.post("/v2/bot/message/push")
    def push():
        data = body()
        details = []
        if not isinstance(data.get("to"), str) or not _TARGET_RE.match(data["to"]):
            details.append({"message": "The property, 'to', in the request body is invalid", "property": "to"})
        details += validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("push", [data["to"]], data["messages"], key)

    @app.post("/v2/bot/message/multicast")
    def multicast():
        data = body()
        errors = _Errors()
        to = data.get("to")
        if errors.size("to", to, 1, 500):
            for i, uid in enumerate(to):
                if not isinstance(uid, str) or not _USER_ID_RE.match(uid):
                    errors.add(f"to[{i}]", "invalid user id")
        details = errors.details + validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("multicast", list(dict.fromkeys(to)), data["messages"], key)

    @app.post("/v2/bot/message/broadcast")
    def broadcast():
        data = body()
        details = validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("broadcast", [u for u in st.known_users if u.startswith("U")], data["messages"], key)

    @app.get("/v2/bot/message/quota")
    def quota():
        with st.lock:
            if st.quota is None:
                return _json({"type": "none"})
            return _json({"type": "limited", "value": st.quota})

    @app.get("/v2/bot/message/quota/consumption")
    def quota_consumption():
        with st.lock:
            return _json({"totalUsage": st.quota_used})

    @app.post("/v2/bot/message/validate/<kind>")
    def validate(kind: str):
        if kind not in ("reply", "push", "multicast", "narrowcast", "broadcast"):
            return _error(404, "Not found")
        details = validate_messages(body().get("messages"))
        return _validation_error(details) if details else _json({})

    @app.post("/v2/bot/chat/loading/start")
    def loading():
        chat_id = body().get("chatId")
        if not isinstance(chat_id, str) or not _USER_ID_RE.match(chat_id):
            return _validation_error([{"message": "invalid chatId", "property": "chatId"}])
        return _json({}, 202)

    @app.post("/v2/bot/message/markAsRead")
    @app.post("/v2/bot/chat/markAsRead")
    def mark_as_read():
        return _json({})

    # -- users and content --------------------------------------------------------------------

    def _profile(user_id: str) -> dict:
        with st.lock:
            custom = st.profiles.get(user_id, {})
        profile = {"displayName": custom.get("displayName") or DEFAULT_DISPLAY_NAME, "userId": user_id, "language": "zh-TW"}
        if custom.get("pictureUrl"):
            profile["pictureUrl"] = custom["pictureUrl"]
        return profile

    @app.get("/v2/bot/profile/<user_id>")
    def profile(user_id: str):
        if not _USER_ID_RE.match(user_id):
            return _error(404, "Not found")
        return _json(_profile(user_id))

    @app.get("/v2/bot/group/<group_id>/member/<user_id>")
    @app.get("/v2/bot/room/<group_id>/member/<user_id>")
    def member_profile(group_id: str, user_id: str):
        if not _USER_ID_RE.match(user_id):
            return _error(404, "Not found")
        p = _profile(user_id)
        return _json({k: v for k, v in p.items() if k != "language"})

    @app.get("/v2/bot/info")
    def bot_info():
        return _json(
            {
                "userId": BOT_USER_ID,
                "basicId": BOT_BASIC_ID,
                "displayName": BOT_DISPLAY_NAME,
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    @app.get("/v2/bot/followers/ids")
    def followers():
        with st.lock:
            users = [u for u in st.known_users if u.startswith("U")]
        return _json({"userIds": users})

    @app.get("/v2/bot/message/<message_id>/content")
    @app.get("/v2/bot/message/<message_id>/content/preview")
    def content(message_id: str):
        with st.lock:
            stored = st.content.get(message_id)
        ctype, data = stored or ("image/png", PLACEHOLDER_PNG)
        return Response(data, mimetype=ctype)

    @app.get("/v2/bot/message/<message_id>/content/transcoding")
    def transcoding(message_id: str):
        return _json({"status": "succeeded"})

    add_rich_menu_routes(app, st)

    @app.route("/v2/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown(rest: str):
        return _error(404, "Not found")

    add_control_routes(app, st)

    return app


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


class StandinServer:
    """A stand-in served in a daemon thread, over persistent connections (`keepalive`; quiet: calls are
    in ``/__standin/calls``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: StandinState | None = None) -> None:
        self.state = state or StandinState()
        self.app = create_standin_app(self.state)
        self._server = KeepAliveServer(host, port, self.app)  # connections kept open, as LINE's are
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.client = StandinClient(self.url)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"line-standin:{self.port}", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> StandinServer:
    return StandinServer(host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LINE Messaging API stand-in (for development and tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    server = KeepAliveServer(args.host, args.port, create_standin_app())
    print(f"LINE stand-in on http://{args.host}:{server.server_port}  (set LINE_API_ENDPOINT to this)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
