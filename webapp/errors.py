"""zh-TW error pages for every status a visitor can meet, in the public pages' style, each with a
way back (the home page, or the LINE chat for an official who came from it).

Ids in URLs are bounded (`int` accepts 1..2^31-1, PostgreSQL's integer), so an out-of-range id is
a 404 rather than a database error; JSON nested deeper than Python's recursion limit is a 400, and so
is a query string carrying U+0000.
"""
from __future__ import annotations

import logging

from flask import Flask, abort, json, make_response, render_template, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from models.base import MAX_ID

log = logging.getLogger(__name__)

PAGES = {
    400: ("請求無法處理", "這個請求的內容不完整或格式不正確，請回到上一頁重新操作。"),
    403: ("沒有權限", "您沒有檢視這個頁面的權限。若您認為這是錯誤，請聯絡營運小組（研考會）。"),
    404: ("找不到頁面", "這個網址沒有對應的頁面，可能是網址有誤，或提案尚未公開。"),
    405: ("無法這樣操作", "這個頁面不接受這種操作方式，請回到上一頁重新操作。"),
    410: ("連結已失效", "這個連結已過期或已被較新的連結取代，請使用最新一封郵件或聊天訊息中的連結。"),
    413: ("內容太大", "送出的內容超過大小上限，請縮短內容或改用較小的檔案後再試。"),
    429: ("操作太頻繁", "短時間內的請求太多，請稍候幾分鐘再試。"),
    500: ("系統暫時發生問題", "系統處理時發生錯誤，已記錄下來，請稍後再試。若一直發生，請聯絡營運小組（研考會）。"),
}


class BoundedInt(IntegerConverter):
    """Every `<int:...>` in the app: 1..2^31-1, so no id overflows the database's integer column."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """`request.get_json()` answers 400 for JSON nested too deeply to parse (not a 500)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json" or request.path.startswith(("/line/", "/email/", "/healthz", "/metrics"))


def render_error(status: int):
    title, message = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    if wants_json():
        return json.jsonify(error=title), status
    return render_template("public/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedInt
    app.json_provider_class = BoundedJSONProvider
    app.json = BoundedJSONProvider(app)

    @app.before_request
    def _refuse_nul_in_query():
        # No text column takes U+0000 (PostgreSQL refuses it), and no person types one: a query string
        # carrying it (`?q=%00`) is a 400 here rather than a database error in whichever view reads it.
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.args.lists()):
            abort(400)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        response = make_response(render_error(error.code))
        for name, value in error.get_headers():
            if name in ("Allow", "Retry-After"):
                response.headers[name] = value
        return response

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError):
        return render_error(500)
