"""POST /email/inbound: a raw RFC 822 message signed with INBOUND_EMAIL_SECRET, or Mailgun's form."""
from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, abort, current_app, jsonify, request

from models.inbound import MAX_INBOUND_BYTES

from .mailparse import MailRejected, receive_raw_mail

bp = Blueprint("inbound_mail", __name__)
MAILGUN_MAX_AGE = 15 * 60


def _valid_raw_signature(raw: bytes) -> bool:
    header = request.headers.get("X-Inbound-Signature", "")
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(current_app.config["INBOUND_EMAIL_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def _valid_mailgun_signature(form) -> bool:
    timestamp, token, signature = form.get("timestamp", ""), form.get("token", ""), form.get("signature", "")
    if not (timestamp.isdigit() and token and signature):
        return False
    if abs(time.time() - int(timestamp)) > MAILGUN_MAX_AGE:
        return False
    expected = hmac.new(current_app.config["MAILGUN_SIGNING_KEY"].encode(), (timestamp + token).encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        return False
    # The signature covers only timestamp+token: a captured one must not carry another body.
    try:
        first_use = current_app.extensions["redis"].set(f"mailgun-token:{token[:100]}", 1, nx=True,
                                                        ex=2 * MAILGUN_MAX_AGE)
    except Exception:  # noqa: BLE001 - Redis down: Message-ID de-duplication still applies
        return True
    return bool(first_use)


@bp.post("/email/inbound")
def inbound():
    if request.content_length is not None and request.content_length > MAX_INBOUND_BYTES + 64 * 1024:
        abort(413)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if not _valid_mailgun_signature(request.form):
            abort(401)
        raw = (request.form.get("body-mime") or "").encode("utf-8", errors="surrogateescape")
    else:
        raw = request.get_data(cache=False)
        if not _valid_raw_signature(raw):
            abort(401)
    try:
        outcome = receive_raw_mail(raw)
    except MailRejected as rejected:
        status = 413 if "large" in str(rejected).lower() or "size" in str(rejected).lower() else 400
        return jsonify({"outcome": "rejected", "reason": str(rejected)}), status
    return jsonify({"outcome": outcome}), 200
