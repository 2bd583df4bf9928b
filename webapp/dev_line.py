"""The LINE simulator at /dev/line: chat with the bot as LINE users, in a browser.

The page (templates/dev_line.html, static/dev_line.js) posts user actions to
``/dev/line/api/event``; this module turns each into the webhook body LINE would send
(devtools.line_standin builds it, exactly as the tests do), registers its reply token with the
LINE stand-in at ``LINE_API_ENDPOINT``, signs it with ``LINE_CHANNEL_SECRET`` and hands it to the
app's own ``/line/webhook`` in-process.  What the bot sends goes to the stand-in; the page polls
``/dev/line/api/messages`` for it.

Development only: the factory registers ``dev_line_bp`` when ``LINE_SIMULATOR`` is on.  It needs
a stand-in (``python -m devtools.line_standin --port 8091`` and
``LINE_API_ENDPOINT=http://127.0.0.1:8091``), never the real api.line.me.
"""
from __future__ import annotations

import base64
import binascii
import re
import threading
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from devtools.line_standin import (
    BOT_DISPLAY_NAME,
    EVENT_KINDS,
    StandinClient,
    StandinError,
    make_body,
    make_event,
    reply_targets,
    sign,
)

dev_line_bp = Blueprint(
    "dev_line",
    __name__,
    url_prefix="/dev/line",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)



@dev_line_bp.before_request
def _staff_only_in_production():
    """With LINE_SIMULATOR=1 in production (a demo), only a logged-in console user may use it."""
    if current_app.config.get("PRODUCTION") and not current_user.is_authenticated:
        if request.path.startswith("/dev/line/api/"):
            return {"error": "請先登入工作臺"}, 401
        return redirect(url_for("console.login", next=request.path))
    return None


_USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
_GROUP_ID_RE = re.compile(r"^C[0-9a-f]{32}$")
_MAX_IMAGE_BYTES = 10 * 1024 * 1024
_REAL_LINE_HOSTS = ("api.line.me", "api-data.line.me")


def _standin() -> StandinClient:
    endpoint = (current_app.config.get("LINE_API_ENDPOINT") or "").rstrip("/")
    if not endpoint or any(host in endpoint for host in _REAL_LINE_HOSTS):
        raise StandinError(
            "LINE_API_ENDPOINT 指向真正的 LINE 平臺；模擬器需要 LINE 模擬伺服器："
            "執行 python -m devtools.line_standin --port 8091，並設定 LINE_API_ENDPOINT=http://127.0.0.1:8091"
        )
    return StandinClient(endpoint)


def _problem(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _deliver_webhook(body: bytes, signature: str) -> dict:
    """POST the body to the app's own webhook with a test client, in a fresh thread so the
    request gets its own app context (and database connection), as if LINE had sent it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = app.config.get("LINE_WEBHOOK_PATH", "/line/webhook")
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            resp = app.test_client().post(
                path,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "LineBotWebhook/2.0",
                    "X-Line-Signature": signature,
                },
            )
            result["status"] = resp.status_code
            result["response"] = resp.get_data(as_text=True)[:500]
        except Exception as exc:  # the webhook raised (PROPAGATE_EXCEPTIONS): report it
            app.logger.exception("LINE simulator: the webhook raised")
            result["status"] = 500
            result["response"] = f"{type(exc).__name__}: {exc}"[:500]

    worker = threading.Thread(target=run, name="dev-line-webhook", daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():
        result.update(status=504, response="the webhook did not answer within 120 s")
    return result


@dev_line_bp.get("")
@dev_line_bp.get("/")
def index():
    return render_template(
        "dev_line.html",
        api_base=url_for("dev_line.index").rstrip("/") + "/api",
        bot_name=BOT_DISPLAY_NAME,
    )


@dev_line_bp.post("/api/event")
def api_event():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _problem("需要 JSON 內容", 400)
    user_id = data.get("userId")
    kind = data.get("type")
    if not isinstance(user_id, str) or not _USER_ID_RE.match(user_id):
        return _problem("userId 必須是 U 加 32 個十六進位字元", 400)
    if kind not in EVENT_KINDS:
        return _problem(f"type 必須是 {', '.join(EVENT_KINDS)} 之一", 400)
    group_id = data.get("groupId")
    if group_id is not None and (not isinstance(group_id, str) or not _GROUP_ID_RE.match(group_id)):
        return _problem("groupId 必須是 C 加 32 個十六進位字元", 400)

    kwargs: dict[str, Any] = {"group_id": group_id}
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return _problem("text 不可空白", 400)
        kwargs["text"] = text
    elif kind == "postback":
        if not isinstance(data.get("data"), str):
            return _problem("postback 需要 data", 400)
        kwargs["data"] = data["data"]
        if isinstance(data.get("params"), dict):
            kwargs["params"] = {str(k): str(v) for k, v in data["params"].items()}
    elif kind == "sticker":
        kwargs["package_id"] = str(data.get("packageId") or "446")
        kwargs["sticker_id"] = str(data.get("stickerId") or "1988")
        if isinstance(data.get("keywords"), list):
            kwargs["keywords"] = [str(k) for k in data["keywords"]][:10]
    elif kind == "follow":
        kwargs["is_unblocked"] = bool(data.get("isUnblocked"))
    elif kind == "location":
        for key in ("title", "address"):
            if isinstance(data.get(key), str):
                kwargs[key] = data[key]
        for key in ("latitude", "longitude"):
            if isinstance(data.get(key), (int, float)):
                kwargs[key] = float(data[key])

    image: tuple[str, bytes] | None = None
    if kind == "image" and isinstance(data.get("image"), dict):
        try:
            raw = base64.b64decode(data["image"].get("base64") or "", validate=True)
        except (binascii.Error, ValueError):
            return _problem("image.base64 不是有效的 base64", 400)
        if len(raw) > _MAX_IMAGE_BYTES:
            return _problem("圖片太大（上限 10 MB）", 413)
        image = (str(data["image"].get("contentType") or "image/jpeg"), raw)

    event = make_event(kind, user_id, **kwargs)
    body = make_body([event])
    try:
        standin = _standin()
        name = data.get("displayName")
        if isinstance(name, str) and name.strip():
            standin.set_profile(user_id, name.strip()[:20])
        if image is not None:
            standin.put_content(event["message"]["id"], image[1], image[0])
        for token, target in reply_targets([event]):
            standin.register_reply_token(token, target)
    except StandinError as exc:
        return _problem(str(exc), 503)

    result = _deliver_webhook(body, sign(body, current_app.config["LINE_CHANNEL_SECRET"]))
    return jsonify(
        {
            "status": result["status"],
            "response": result["response"],
            "webhookEventId": event["webhookEventId"],
            "replyToken": event.get("replyToken"),
            "event": event,
        }
    )


@dev_line_bp.get("/api/messages")
def api_messages():
    after = request.args.get("after", "0")
    if not after.isdigit():
        return _problem("after 必須是整數", 400)
    try:
        payload = _standin().request(
            "GET", "/__standin/messages", query={"user": request.args.get("user") or None, "after": after}
        )
    except StandinError as exc:
        return _problem(str(exc), 503)
    return jsonify(payload)


@dev_line_bp.get("/api/richmenu")
def api_rich_menu():
    try:
        payload = _standin().request("GET", "/__standin/richmenu", query={"user": request.args.get("user") or None})
    except StandinError as exc:
        return _problem(str(exc), 503)
    menu = payload.get("richMenu")
    if menu and menu.get("hasImage"):
        menu["imageUrl"] = url_for("dev_line.api_rich_menu_image", menu_id=menu["richMenuId"])
    return jsonify(payload)


@dev_line_bp.get("/api/richmenu/<menu_id>/image")
def api_rich_menu_image(menu_id: str):
    if not re.match(r"^[A-Za-z0-9_-]{1,100}$", menu_id):
        return _problem("not found", 404)
    try:
        data, ctype = _standin().get_bytes(f"/__standin/richmenu/{menu_id}/image")
    except StandinError as exc:
        return _problem("not found", 404) if exc.status == 404 else _problem(str(exc), 503)
    return Response(data, mimetype=ctype.split(";")[0], headers={"Cache-Control": "max-age=3600"})


@dev_line_bp.post("/api/richmenu/switch")
def api_rich_menu_switch():
    data = request.get_json(silent=True) or {}
    try:
        payload = _standin().request(
            "POST",
            "/__standin/richmenu/switch",
            {"userId": data.get("userId"), "richMenuAliasId": data.get("richMenuAliasId")},
        )
    except StandinError as exc:
        return _problem(str(exc), 404 if exc.status == 404 else 503)
    return jsonify(payload)
