"""The stand-in's ``/__standin/`` control endpoints: register reply tokens, read what each user
received, inject failures, reset (what StandinClient talks to)."""
from __future__ import annotations

import base64
import copy

from flask import Flask, Response, request

from .events import _TARGET_RE, _USER_ID_RE, _now_iso
from .responses import _error, _json, body
from .state import StandinState


def add_control_routes(app: Flask, st: StandinState) -> None:
    # -- control endpoints --------------------------------------------------------------------

    @app.get("/__standin/")
    def index():
        with st.lock:
            return _json(
                {
                    "standin": "LINE Messaging API",
                    "calls": len(st.calls),
                    "messages": len(st.deliveries),
                    "replyTokens": len(st.reply_tokens),
                    "richMenus": len(st.rich_menus),
                    "pendingFailures": len(st.fail_queue),
                }
            )

    @app.post("/__standin/reply-tokens")
    def register_reply_token():
        data = body()
        token, user = data.get("replyToken"), data.get("userId")
        if not isinstance(token, str) or not token or not isinstance(user, str) or not _TARGET_RE.match(user):
            return _error(400, "replyToken and userId (U/C/R + 32 hex) are required")
        with st.lock:
            # Registering a known token again (a redelivered event) keeps it used if it was.
            entry = st.reply_tokens.setdefault(token, {"used": False, "registered": _now_iso()})
            entry["userId"] = user
            st.known_users[user] = None
        return _json({}, 201)

    @app.post("/__standin/profiles")
    def set_profile():
        data = body()
        user = data.get("userId")
        if not isinstance(user, str) or not _USER_ID_RE.match(user):
            return _error(400, "userId (U + 32 hex) is required")
        with st.lock:
            st.profiles[user] = {k: data[k] for k in ("displayName", "pictureUrl") if isinstance(data.get(k), str)}
            st.known_users[user] = None
        return _json({}, 201)

    @app.post("/__standin/content")
    def put_content():
        data = body()
        try:
            raw = base64.b64decode(data.get("base64") or "", validate=True)
        except ValueError:
            return _error(400, "base64 is not valid")
        if not isinstance(data.get("messageId"), str):
            return _error(400, "messageId is required")
        with st.lock:
            st.content[data["messageId"]] = (str(data.get("contentType") or "application/octet-stream"), raw)
        return _json({}, 201)

    @app.get("/__standin/messages")
    def messages():
        user = request.args.get("user") or None
        users = {u for u in user.split(",") if u} if user else None
        try:
            after = int(request.args.get("after") or 0)
        except ValueError:
            return _error(400, "after must be an integer")
        out, last = st.messages_for(users, after)
        return _json({"messages": out, "lastId": last})

    @app.get("/__standin/calls")
    def calls():
        path = request.args.get("path")
        with st.lock:
            out = copy.deepcopy([c for c in st.calls if not path or c["path"] == path])
        return _json({"calls": out})

    @app.delete("/__standin/calls")
    def reset():
        st.reset()
        return _json({})

    @app.post("/__standin/quota")
    def set_quota():
        """{"value": N or null, "used": M}: the monthly push quota and what is already used of it."""
        data = body()
        value, used = data.get("value"), data.get("used", 0)
        if (value is not None and (not isinstance(value, int) or value < 0)) or not isinstance(used, int) or used < 0:
            return _error(400, "value must be a non-negative integer or null; used a non-negative integer")
        with st.lock:
            st.quota, st.quota_used = value, used
        return _json({})

    @app.post("/__standin/fail")
    def fail():
        data = body()
        try:
            count = int(data.get("count", 1))
            status = int(data.get("status", 500))
        except (TypeError, ValueError):
            return _error(400, "count and status must be integers")
        if count < 0 or not 400 <= status <= 599:
            return _error(400, "count >= 0 and 400 <= status <= 599")
        with st.lock:
            st.fail_queue = [status] * count
        return _json({"pending": count})

    @app.get("/__standin/richmenu")
    def current_rich_menu():
        user = request.args.get("user") or None
        with st.lock:
            menu_id = st.rich_menu_for(user)
            menu = copy.deepcopy(st.rich_menus.get(menu_id)) if menu_id else None
            if menu is not None:
                menu["hasImage"] = menu_id in st.rich_menu_images
                menu["aliases"] = {a: m for a, m in st.rich_menu_aliases.items()}
        return _json({"richMenu": menu})

    @app.post("/__standin/richmenu/switch")
    def switch_rich_menu():
        """What a richmenuswitch action does on the phone: link the alias's menu to the user."""
        data = body()
        with st.lock:
            menu_id = st.rich_menu_aliases.get(data.get("richMenuAliasId"))
            if not menu_id or not isinstance(data.get("userId"), str):
                return _error(404, "Not found")
            st.user_rich_menus[data["userId"]] = menu_id
        return _json({"richMenuId": menu_id})

    @app.get("/__standin/richmenu/<menu_id>/image")
    def rich_menu_image(menu_id: str):
        with st.lock:
            image = st.rich_menu_images.get(menu_id)
        if image is None:
            return _error(404, "Not found")
        return Response(image[1], mimetype=image[0])
