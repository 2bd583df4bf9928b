"""The stand-in's rich-menu endpoints (menus, their images, default and per-user links, aliases)."""
from __future__ import annotations

import copy
import re
import uuid

from flask import Flask, Response, request

from .responses import _error, _json, _validation_error, body
from .state import StandinState
from .validation import _validate_rich_menu


def add_rich_menu_routes(app: Flask, st: StandinState) -> None:
    # -- rich menus ---------------------------------------------------------------------------

    @app.post("/v2/bot/richmenu/validate")
    def validate_rich_menu():
        details = _validate_rich_menu(body())
        return _validation_error(details) if details else _json({})

    @app.post("/v2/bot/richmenu")
    def create_rich_menu():
        menu = body()
        details = _validate_rich_menu(menu)
        if details:
            return _validation_error(details)
        menu_id = "richmenu-" + uuid.uuid4().hex
        stored = {"richMenuId": menu_id, **{k: menu[k] for k in ("size", "selected", "name", "chatBarText", "areas")}}
        with st.lock:
            st.rich_menus[menu_id] = stored
        return _json({"richMenuId": menu_id})

    @app.get("/v2/bot/richmenu/list")
    def list_rich_menus():
        with st.lock:
            menus = copy.deepcopy(list(st.rich_menus.values()))
        return _json({"richmenus": menus})

    @app.get("/v2/bot/richmenu/<menu_id>")
    def get_rich_menu(menu_id: str):
        with st.lock:
            menu = copy.deepcopy(st.rich_menus.get(menu_id))
        return _json(menu) if menu else _error(404, "Not found")

    @app.delete("/v2/bot/richmenu/<menu_id>")
    def delete_rich_menu(menu_id: str):
        with st.lock:
            if st.rich_menus.pop(menu_id, None) is None:
                return _error(404, "Not found")
            st.rich_menu_images.pop(menu_id, None)
            if st.default_rich_menu == menu_id:
                st.default_rich_menu = None
            for user in [u for u, m in st.user_rich_menus.items() if m == menu_id]:
                del st.user_rich_menus[user]
            for alias in [a for a, m in st.rich_menu_aliases.items() if m == menu_id]:
                del st.rich_menu_aliases[alias]
        return _json({})

    @app.post("/v2/bot/richmenu/<menu_id>/content")
    def upload_rich_menu_image(menu_id: str):
        if request.mimetype not in ("image/png", "image/jpeg"):
            return _error(415, "Unsupported Media Type")
        data = request.get_data()
        if not data or len(data) > 1024 * 1024:
            return _error(400, "The image size must be 1 MB or less")
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(404, "Not found")
            if menu_id in st.rich_menu_images:
                return _error(400, "An image has already been uploaded to the richmenu")
            st.rich_menu_images[menu_id] = (request.mimetype, data)
        return _json({})

    @app.get("/v2/bot/richmenu/<menu_id>/content")
    def download_rich_menu_image(menu_id: str):
        with st.lock:
            image = st.rich_menu_images.get(menu_id)
        if image is None:
            return _error(404, "Not found")
        return Response(image[1], mimetype=image[0])

    @app.post("/v2/bot/user/all/richmenu/<menu_id>")
    def set_default_rich_menu(menu_id: str):
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if menu_id not in st.rich_menu_images:
                return _error(400, "must upload richmenu image before applying it to user")
            st.default_rich_menu = menu_id
        return _json({})

    @app.get("/v2/bot/user/all/richmenu")
    def get_default_rich_menu():
        with st.lock:
            menu_id = st.default_rich_menu
        return _json({"richMenuId": menu_id}) if menu_id else _error(404, "no default richmenu")

    @app.delete("/v2/bot/user/all/richmenu")
    def cancel_default_rich_menu():
        with st.lock:
            st.default_rich_menu = None
        return _json({})

    @app.post("/v2/bot/user/<user_id>/richmenu/<menu_id>")
    def link_rich_menu(user_id: str, menu_id: str):
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if menu_id not in st.rich_menu_images:
                return _error(400, "must upload richmenu image before applying it to user")
            st.user_rich_menus[user_id] = menu_id
        return _json({})

    @app.get("/v2/bot/user/<user_id>/richmenu")
    def get_user_rich_menu(user_id: str):
        with st.lock:
            menu_id = st.user_rich_menus.get(user_id)
        return _json({"richMenuId": menu_id}) if menu_id else _error(404, "the user has no richmenu")

    @app.delete("/v2/bot/user/<user_id>/richmenu")
    def unlink_rich_menu(user_id: str):
        with st.lock:
            st.user_rich_menus.pop(user_id, None)
        return _json({})

    @app.post("/v2/bot/richmenu/bulk/link")
    def bulk_link():
        data = body()
        with st.lock:
            if data.get("richMenuId") not in st.rich_menus:
                return _error(400, "richmenu not found")
            for uid in data.get("userIds") or []:
                st.user_rich_menus[uid] = data["richMenuId"]
        return _json({}, 202)

    @app.post("/v2/bot/richmenu/bulk/unlink")
    def bulk_unlink():
        with st.lock:
            for uid in body().get("userIds") or []:
                st.user_rich_menus.pop(uid, None)
        return _json({}, 202)

    @app.post("/v2/bot/richmenu/alias")
    def create_alias():
        data = body()
        alias, menu_id = data.get("richMenuAliasId"), data.get("richMenuId")
        with st.lock:
            if not isinstance(alias, str) or not re.match(r"^[a-z0-9_-]{1,32}$", alias):
                return _validation_error([{"message": "invalid alias id", "property": "richMenuAliasId"}])
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if alias in st.rich_menu_aliases:
                return _error(400, "conflict richmenu alias id")
            st.rich_menu_aliases[alias] = menu_id
        return _json({})

    @app.get("/v2/bot/richmenu/alias/list")
    def list_aliases():
        with st.lock:
            aliases = [{"richMenuAliasId": a, "richMenuId": m} for a, m in st.rich_menu_aliases.items()]
        return _json({"aliases": aliases})

    @app.get("/v2/bot/richmenu/alias/<alias>")
    def get_alias(alias: str):
        with st.lock:
            menu_id = st.rich_menu_aliases.get(alias)
        return _json({"richMenuAliasId": alias, "richMenuId": menu_id}) if menu_id else _error(404, "Not found")

    @app.post("/v2/bot/richmenu/alias/<alias>")
    def update_alias(alias: str):
        menu_id = body().get("richMenuId")
        with st.lock:
            if alias not in st.rich_menu_aliases:
                return _error(404, "Not found")
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            st.rich_menu_aliases[alias] = menu_id
        return _json({})

    @app.delete("/v2/bot/richmenu/alias/<alias>")
    def delete_alias(alias: str):
        with st.lock:
            if st.rich_menu_aliases.pop(alias, None) is None:
                return _error(404, "Not found")
        return _json({})
