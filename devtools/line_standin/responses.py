"""The stand-in's answers: JSON bodies and errors shaped like LINE's, and the JSON request body."""
from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Response, request


def _json(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")
    resp.headers["x-line-request-id"] = str(uuid.uuid4())
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _error(status: int, message: str, details: list | None = None, **extra: Any) -> Response:
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = details
    payload.update(extra)
    return _json(payload, status)


def _validation_error(details: list[dict]) -> Response:
    return _error(400, f"The request body has {len(details)} error(s)", details)


def body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}
