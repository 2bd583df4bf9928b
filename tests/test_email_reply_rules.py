"""Issue 10 item 6: email replies are held to the chat's rules (R3.2, R9.3.4).

Five wrong codes lock a code whichever way they came (typed, emailed, or both), and the code
written only in the quoted original, in any common quoting form, never confirms."""
from __future__ import annotations

import uuid
from email.message import EmailMessage

import pytest

from models.officials import Official
from models.verification import VerificationCode
from tests.fixtures_mail import SmtpSink, post_inbound, reply_to_email
from tests.helpers import load_agencies, register

ADDRESS = "wang@taichung.gov.tw"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_r3_2_five_wrong_codes_by_email_lock_the_code(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail, code = smtp.last_to(ADDRESS), smtp.code_for(ADDRESS)
    outcomes = [post_inbound(client, reply_to_email(mail, ADDRESS, f"{_wrong(code)} 確認", with_code=False)).json["outcome"]
                for _ in range(5)]
    assert outcomes == ["wrong_code"] * 4 + ["locked"]
    assert "還可以再試 1 次" in line.texts(uid)[-2] and "錯誤次數過多" in line.texts(uid)[-1]
    assert VerificationCode.get().status == "locked"
    assert post_inbound(client, reply_to_email(mail, ADDRESS, f"{code} 確認")).json["outcome"] == "not_pending"
    line.text(client, uid, code)
    assert not Official.get_by_id(official.id).is_verified


def test_r3_2_wrong_codes_typed_and_emailed_count_together(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail, code = smtp.last_to(ADDRESS), smtp.code_for(ADDRESS)
    for _ in range(3):
        line.text(client, uid, _wrong(code))
    for _ in range(2):
        post_inbound(client, reply_to_email(mail, ADDRESS, f"{_wrong(code)} 確認", with_code=False))
    assert VerificationCode.get().status == "locked" and VerificationCode.get().wrong_tries == 5
    assert post_inbound(client, reply_to_email(mail, ADDRESS, f"{code}", with_code=False)).json["outcome"] == "not_pending"
    assert not Official.get_by_id(official.id).is_verified


def _raw_reply(original: EmailMessage, new_text: str, quoted: str, *, html: bool = False) -> bytes:
    reply = EmailMessage()
    reply["From"] = ADDRESS
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Message-ID"] = f"<{uuid.uuid4().hex}@mail.taichung.gov.tw>"
    reply["In-Reply-To"] = str(original["Message-ID"])
    if html:
        reply.set_content(f"<html><body><div>{new_text}</div>{quoted}</body></html>", subtype="html")
    else:
        reply.set_content(f"{new_text}\n\n{quoted}\n")
    return reply.as_bytes()


def _quoting_forms(body: str) -> dict[str, tuple[str, bool]]:
    lines = body.splitlines()
    return {
        "angle": ("\n".join("> " + x for x in lines), False),
        "angle-no-space": ("\n".join(">" + x for x in lines), False),
        "pipe": ("\n".join("| " + x for x in lines), False),
        "full-width-angle": ("\n".join("＞" + x for x in lines), False),
        "gmail-en": ("On Thu, Dec 3, 2026 at 10:00 AM 臺中市政府 <noreply@platform.localhost> wrote:\n" + body, False),
        "gmail-zh": ("2026年12月3日 週四 上午10:00 臺中市政府 <noreply@platform.localhost> 寫道：\n" + body, False),
        "outlook-en": ("________________________________\nFrom: 臺中市政府 <noreply@platform.localhost>\n"
                       "Sent: Thursday, December 3, 2026 10:00 AM\nTo: wang@taichung.gov.tw\n"
                       "Subject: 電子郵件認證碼\n\n" + body, False),
        "outlook-zh": ("寄件者: 臺中市政府 <noreply@platform.localhost>\n寄件日期: 2026年12月3日 上午 10:00\n"
                       "收件者: wang@taichung.gov.tw\n主旨: 電子郵件認證碼\n\n" + body, False),
        "outlook-original-message": ("-----Original Message-----\n" + body, False),
        "separator-then-pasted": ("==========\n" + body, False),
        "pasted-unquoted": (body, False),
        "outlook-html-rule": ("<hr><div><b>From:</b> 臺中市政府</div><div>" + body.replace("\n", "<br>") + "</div>", True),
        "html-blockquote": ("<blockquote>" + body.replace("\n", "<br>") + "</blockquote>", True),
    }


def test_r3_2_the_code_only_in_quoted_text_never_confirms_in_any_common_form(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to(ADDRESS)
    body = SmtpSink.body(mail)
    for name, (quoted, html) in _quoting_forms(body).items():
        raw = _raw_reply(mail, "這不是我申請的，請不要再寄信給我。", quoted, html=html)
        outcome = post_inbound(client, raw).json["outcome"]
        assert outcome == "no_code", name
    assert not Official.get_by_id(official.id).is_verified
    assert VerificationCode.get().wrong_tries == 0 and VerificationCode.get().status == "pending"
    code = smtp.code_for(ADDRESS)
    raw = _raw_reply(mail, f"認證碼 {code}，確認。", _quoting_forms(body)["pipe"][0])
    assert post_inbound(client, raw).json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified
