"""Security headers on every response, set in one place (issue 10 item 3).

The pages carry no inline script or style (the progress bar is a <progress> element), so the
policy allows scripts and styles from this origin only; images may come from https (LINE content
in the development simulator) and data: URIs. HSTS is sent only when the request came over https
(directly, or through the proxies ProxyFix trusts), since a browser ignores it over http anyway
and it would pin a development host to https."""
from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def token_page_headers(response: Response) -> Response:
    """For pages whose URL carries a signed token (agency answer and response links, consent links):
    never cached, never sent on as a referrer, never framed. Registered with `bp.after_request`."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
