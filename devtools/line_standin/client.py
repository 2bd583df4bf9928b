"""A client for a running stand-in's ``/__standin/`` control endpoints (used by the tests and the simulator)."""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .events import reply_targets

# --------------------------------------------------------------------------------------------
# A client for the control endpoints (urllib: no extra dependency; never through a proxy)
# --------------------------------------------------------------------------------------------


class StandinError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StandinClient:
    """Talks to a running stand-in's ``/__standin/`` control endpoints."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: Any = None, query: dict | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise StandinError(f"{method} {path}: HTTP {exc.code} {exc.read()[:200]!r}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StandinError(f"LINE stand-in at {self.url} is not reachable: {exc}") from exc
        return json.loads(raw) if raw else None

    def get_bytes(self, path: str) -> tuple[bytes, str]:
        """(body, content type) of a GET, for images."""
        try:
            with self._opener.open(self.url + path, timeout=self.timeout) as resp:
                return resp.read(), resp.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as exc:
            raise StandinError(f"GET {path}: HTTP {exc.code}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StandinError(f"LINE stand-in at {self.url} is not reachable: {exc}") from exc

    def register_reply_token(self, reply_token: str, user_id: str) -> None:
        self.request("POST", "/__standin/reply-tokens", {"replyToken": reply_token, "userId": user_id})

    def register_body(self, body: bytes | str | dict | list) -> None:
        """Register every reply token in a webhook body (or list of events)."""
        for token, target in reply_targets(body):
            self.register_reply_token(token, target)

    def set_profile(self, user_id: str, display_name: str, picture_url: str | None = None) -> None:
        body = {"userId": user_id, "displayName": display_name}
        if picture_url:
            body["pictureUrl"] = picture_url
        self.request("POST", "/__standin/profiles", body)

    def put_content(self, message_id: str, content: bytes, content_type: str = "image/jpeg") -> None:
        self.request(
            "POST",
            "/__standin/content",
            {"messageId": message_id, "contentType": content_type, "base64": base64.b64encode(content).decode()},
        )

    def deliveries(self, user: str | None = None, after: int = 0) -> list[dict]:
        return self.request("GET", "/__standin/messages", query={"user": user, "after": after})["messages"]

    def calls(self, path: str | None = None) -> list[dict]:
        return self.request("GET", "/__standin/calls", query={"path": path})["calls"]

    def reset(self) -> None:
        self.request("DELETE", "/__standin/calls")

    def set_quota(self, value: int | None, used: int = 0) -> None:
        """The channel's monthly push quota (None: unlimited) and how much of it is used."""
        self.request("POST", "/__standin/quota", {"value": value, "used": used})

    def fail(self, count: int = 1, status: int = 500) -> None:
        self.request("POST", "/__standin/fail", {"count": count, "status": status})

    def rich_menu(self, user: str | None = None) -> dict | None:
        return self.request("GET", "/__standin/richmenu", query={"user": user}).get("richMenu")
