"""/dev/mail: the development SMTP sink's mailbox, with a "reply" button that feeds the reply to the
inbound-mail path exactly as a mail server would (only served where the LINE simulator is)."""
from __future__ import annotations

import email
import email.policy
import os
import re
import uuid
from email.message import EmailMessage
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from .mailparse import MailRejected, receive_raw_mail

bp = Blueprint("dev_mail", __name__, url_prefix="/dev/mail")


def mail_dir() -> Path:
    return Path(current_app.config.get("DEV_MAIL_DIR") or os.path.join(current_app.instance_path, "mail"))


def _load(name: str) -> EmailMessage:
    path = mail_dir() / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        abort(404)
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part else ""


@bp.get("")
def inbox():
    folder = mail_dir()
    names = sorted((p.name for p in folder.glob("*.eml")), reverse=True)[:200] if folder.is_dir() else []
    messages = []
    for name in names:
        message = _load(name)
        messages.append({"name": name, "to": message["To"], "subject": message["Subject"], "date": message["Date"]})
    return render_template("dev/mail_inbox.html", messages=messages)


@bp.get("/<name>")
def show(name: str):
    message = _load(name)
    body = _body(message)
    code = re.search(r"認證碼是：(\d{6})", body)
    return render_template("dev/mail_show.html", name=name, message=message, body=body,
                           suggested=f"{code.group(1)} 確認" if code else "確認")


@bp.post("/<name>/reply")
def reply(name: str):
    """Build a reply from the recipient (or another address, to try that case) and process it."""
    original = _load(name)
    answer = EmailMessage()
    answer["From"] = (request.form.get("from") or str(original["To"])).strip()[:254]
    answer["To"] = str(original["Reply-To"] or "")
    answer["Subject"] = "Re: " + str(original["Subject"])
    answer["Message-ID"] = f"<{uuid.uuid4().hex}@dev.platform.localhost>"
    quoted = "\n".join("> " + line for line in _body(original).splitlines())
    answer.set_content((request.form.get("text") or "")[:5000] + "\n\n" + quoted)
    try:
        outcome = receive_raw_mail(answer.as_bytes())
    except MailRejected as rejected:
        outcome = f"rejected: {rejected}"
    flash(f"回覆已送出，處理結果：{outcome}")
    return redirect(url_for("dev_mail.show", name=name))
