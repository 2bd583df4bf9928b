"""Reading inbound replies (R3.2 email verification, R9.3.4 seconding codes): raw RFC 822 in, facts out."""
from __future__ import annotations

import hashlib
import random
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from models.inbound import InboundMessage, find_code
from webapp.mailparse import MailRejected, parse_inbound

TOKEN = "Zx9_k-3QpL0aB7vR"


def plain(body: str, *, sender: str = "王小明 <Ming.Wang@Taichung.GOV.tw>", subject: str = "Re: 驗證您的電子郵件",
          to: str = f"verify+{TOKEN}@platform.localhost", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<CAF=abc123@mail.gmail.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def mime(part, **headers: str) -> bytes:
    headers.setdefault("From", "ming@taichung.gov.tw")
    headers.setdefault("To", f"verify+{TOKEN}@platform.localhost")
    headers.setdefault("Subject", "Re: 附議驗證碼")
    for name, value in headers.items():
        part[name.replace("_", "-")] = value
    return part.as_bytes()


# ---------------------------------------------------------------- R3.2: the reply and its code


def test_r3_2_utf8_plain_reply_gives_sender_token_subject_and_code():
    raw = plain(
        "我的驗證碼是 482913，謝謝。\n",
        Cc="Boss <Boss@Taichung.gov.tw>, verify+Second_token-99@platform.localhost",
        Delivered_To=f"verify+{TOKEN}@platform.localhost",
        X_Original_To="alias@platform.localhost",
        Envelope_To="envelope@platform.localhost",
    )
    msg = parse_inbound(raw)

    assert isinstance(msg, InboundMessage)
    assert msg.message_id == "CAF=abc123@mail.gmail.com"
    assert msg.from_address == "ming.wang@taichung.gov.tw"
    assert msg.subject == "Re: 驗證您的電子郵件"
    assert msg.reply_tokens == [TOKEN, "Second_token-99"]
    assert msg.recipients == [
        f"verify+{TOKEN}@platform.localhost".lower(),
        "boss@taichung.gov.tw",
        "verify+second_token-99@platform.localhost",
        "alias@platform.localhost",
        "envelope@platform.localhost",
    ]
    assert msg.text == "我的驗證碼是 482913，謝謝。"
    assert find_code(msg.text) == "482913"
    assert msg.is_auto_reply is False


@pytest.mark.parametrize(
    ("local", "token"),
    [
        ("verify+abcd1234", "abcd1234"),
        ("VERIFY+abcd1234", "abcd1234"),
        ("verify+" + "a" * 64, "a" * 64),
        ("verify+abc1234", None),  # 7 characters
        ("verify+" + "a" * 65, None),
        ("verify+abcd$1234", None),
        ("verify-abcd1234", None),
        ("xverify+abcd1234", None),
    ],
)
def test_r3_2_reply_token_is_url_safe_and_8_to_64_characters(local, token):
    msg = parse_inbound(plain("ok", to=f"{local}@platform.localhost"))
    assert msg.reply_tokens == ([token] if token else [])


def test_r3_2_token_found_in_delivered_to_when_the_to_header_is_a_list():
    raw = plain("123456", to="undisclosed-recipients:;", Delivered_To=f"verify+{TOKEN}@platform.localhost")
    assert parse_inbound(raw).reply_tokens == [TOKEN]


def test_r3_2_token_in_delivered_to_survives_a_huge_to_header():
    crowd = ", ".join(f"user{i}@example.com" for i in range(5000))
    msg = parse_inbound(plain("123456", to=crowd, Delivered_To=f"verify+{TOKEN}@platform.localhost"))
    assert msg.reply_tokens == [TOKEN]


def test_r3_2_big5_body_and_encoded_subject():
    part = MIMEText("您好：\n我的驗證碼是 ３９１８２７。\n臺中市政府研考會 王小明", "plain", "big5")
    raw = mime(part, From=Header("王小明", "big5").encode() + " <ming@taichung.gov.tw>",
               Subject=Header("回覆：附議驗證碼", "big5").encode())
    msg = parse_inbound(raw)
    assert "我的驗證碼是 ３９１８２７。" in msg.text
    assert "臺中市政府研考會" in msg.text
    assert msg.subject == "回覆：附議驗證碼"
    assert msg.from_address == "ming@taichung.gov.tw"
    assert find_code(msg.text) == "391827"


def test_r3_2_raw_big5_8bit_body_and_cp950_extension_characters():
    body = "驗證碼 555123\n碁銹裏墻恒粧嫺\n".encode("cp950")  # Big5-ETEN characters strict big5 lacks
    raw = (
        b"From: ming@taichung.gov.tw\r\nTo: verify+abcdefgh@platform.localhost\r\nSubject: test\r\n"
        b"Content-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
    )
    msg = parse_inbound(raw)
    assert msg.text == "驗證碼 555123\n碁銹裏墻恒粧嫺"


def test_r3_2_undeclared_charset_falls_back_to_big5():
    raw = b"From: ming@taichung.gov.tw\nSubject: x\n\n" + "附議 246810".encode("big5")
    assert parse_inbound(raw).text == "附議 246810"


def test_r3_2_gb18030_and_gb2312_labels():
    part = MIMEText("你好，验证码 135790，朱镕基", "plain", "gb18030")
    assert parse_inbound(mime(part)).text == "你好，验证码 135790，朱镕基"
    # GBK characters in a message labelled gb2312, as many clients send it.
    raw = (b"From: a@example.cn\nSubject: x\nContent-Type: text/plain; charset=gb2312\n\n"
           + "朱镕基 112233".encode("gb18030"))
    assert parse_inbound(raw).text == "朱镕基 112233"


def test_r3_2_iso_2022_jp_body_and_raw_utf8_subject():
    part = MIMEText("こんにちは 987654", "plain", "iso-2022-jp")
    assert parse_inbound(mime(part)).text == "こんにちは 987654"
    raw = "From: a@b.tw\nSubject: 回覆：驗證\n\nok\n".encode()
    assert parse_inbound(raw).subject == "回覆：驗證"


def test_r3_2_unknown_charset_and_broken_base64_do_not_crash():
    raw = (b"From: a@b.tw\nContent-Type: text/plain; charset=x-klingon\nContent-Transfer-Encoding: base64\n\n"
           b"5oiR55qE6amX6K2J56K85piv IDEyMzQ1Ng=@@@!!\n")
    msg = parse_inbound(raw)
    assert isinstance(msg.text, str)


def test_r3_2_html_only_reply_is_converted_without_script_or_style():
    html = """<html><head><title>t</title><style>p {color: red}</style>
    <script>alert("123456")</script></head>
    <body><p>驗證碼&nbsp;<b>777888</b></p><div>謝謝&amp;祝好<br>王小明</div>
    <div class="gmail_quote"><div class="gmail_attr">On Mon, Jan 5, 2026 at 10:00 AM 臺中市政府 &lt;noreply@x.tw&gt; wrote:<br></div>
    <blockquote class="gmail_quote"><p>請回覆驗證碼 000111</p></blockquote></div></body></html>"""
    msg = parse_inbound(mime(MIMEText(html, "html", "utf-8")))
    assert msg.text == "驗證碼 777888\n謝謝&祝好\n王小明"
    assert find_code(msg.text) == "777888"


def test_r3_2_plain_part_is_preferred_and_attachments_are_ignored():
    outer = MIMEMultipart("mixed")
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText("純文字 111222", "plain", "utf-8"))
    alternative.attach(MIMEText("<p>HTML 333444</p>", "html", "utf-8"))
    outer.attach(alternative)
    attachment = MIMEText("附件 555666", "plain", "utf-8")
    attachment.add_header("Content-Disposition", "attachment", filename="note.txt")
    outer.attach(attachment)
    outer.attach(MIMEApplication(b"\x00\x01binary", Name="x.bin"))
    assert parse_inbound(mime(outer)).text == "純文字 111222"

    html_and_attachment = MIMEMultipart("mixed")
    html_and_attachment.attach(MIMEText("<p>HTML 333444</p>", "html", "utf-8"))
    html_and_attachment.attach(attachment)
    assert parse_inbound(mime(html_and_attachment)).text == "HTML 333444"


# ---------------------------------------------------------------- quoted text and signatures


GMAIL_EN = """OK 123456

On Mon, Jan 5, 2026 at 10:00 AM Taichung Participation Platform <
noreply@platform.localhost> wrote:

> Your code is 999999
> Reply to this email.
"""

GMAIL_ZH = """好的 123456

臺中市政府公務人員政策參與平臺 <noreply@platform.localhost> 於 2026年1月5日 週一 上午10:00寫道：

> 您的驗證碼是 999999
"""

GMAIL_ZH_NEW = """好的 123456

在 2026年1月5日 週一 上午10:00，臺中市政府 <noreply@platform.localhost> 寫道：
> 您的驗證碼是 999999
"""

OUTLOOK_EN = """123456

-----Original Message-----
From: Platform <noreply@platform.localhost>
Sent: Monday, January 5, 2026 10:00 AM
Subject: Verify 999999
"""

OUTLOOK_HEADER_BLOCK = """123456 thanks

________________________________
From: Platform <noreply@platform.localhost>
Sent: Monday, January 5, 2026 10:00
To: Ming <ming@taichung.gov.tw>
Subject: Verify 999999

Your code is 999999
"""

OUTLOOK_ZH = """驗證碼 123456

寄件者: 臺中市政府 <noreply@platform.localhost>
寄件日期: 2026年1月5日 上午 10:00
收件者: 王小明 <ming@taichung.gov.tw>
主旨: 驗證碼 999999

您的驗證碼是 999999
"""

ORIGINAL_ZH = """驗證碼 123456
-----原始郵件-----
寄件者: noreply@platform.localhost
您的驗證碼是 999999
"""

SIGNATURE = "123456\n謝謝\n\n-- \n王小明 科員\n臺中市政府研考會 分機 999999\n"  # RFC 3676 "-- " line

INLINE = """> 您的驗證碼是 999999
123456
> 請於 10 分鐘內回覆
好
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GMAIL_EN, "OK 123456"),
        (GMAIL_ZH, "好的 123456"),
        (GMAIL_ZH_NEW, "好的 123456"),
        (OUTLOOK_EN, "123456"),
        (OUTLOOK_HEADER_BLOCK, "123456 thanks"),
        (OUTLOOK_ZH, "驗證碼 123456"),
        (ORIGINAL_ZH, "驗證碼 123456"),
        (SIGNATURE, "123456\n謝謝"),
        (INLINE, "123456\n好"),
    ],
    ids=["gmail-en", "gmail-zh", "gmail-zh-new", "outlook-original", "outlook-header-block", "outlook-zh",
         "original-zh", "signature", "inline-quotes"],
)
def test_r3_2_quoted_original_and_signature_are_removed(body, expected):
    msg = parse_inbound(plain(body))
    assert msg.text == expected
    assert "999999" not in msg.text


def test_r3_2_a_line_mentioning_from_is_kept_when_no_header_block_follows():
    body = "From: 我自己\n附議這個提案 123456\n"
    assert parse_inbound(plain(body)).text == "From: 我自己\n附議這個提案 123456"


# ---------------------------------------------------------------- auto replies and bounces


@pytest.mark.parametrize(
    ("headers", "sender", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, None, True),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y.tw"}, None, True),
        ({"Auto-Submitted": "no"}, None, False),
        ({"X-Autoreply": "yes"}, None, True),
        ({"X-Autorespond": "Out of office"}, None, True),
        ({"Precedence": "bulk"}, None, True),
        ({"Precedence": "Junk"}, None, True),
        ({"Precedence": "auto_reply"}, None, True),
        ({"Precedence": "list"}, None, True),
        ({"Precedence": "first-class"}, None, False),
        ({"Return-Path": "<>"}, None, True),
        ({"Return-Path": "<ming@taichung.gov.tw>"}, None, False),
        ({}, "MAILER-DAEMON@mx.taichung.gov.tw", True),
        ({}, "Mail Delivery System <postmaster@taichung.gov.tw>", True),
        ({}, None, False),
    ],
)
def test_r3_2_auto_replies_are_recognised(headers, sender, expected):
    msg = EmailMessage()
    msg["From"] = sender or "ming@taichung.gov.tw"
    msg["To"] = f"verify+{TOKEN}@platform.localhost"
    msg["Subject"] = "自動回覆：休假中"
    for name, value in headers.items():
        msg[name] = value
    msg.set_content("我休假到 1/10，驗證碼 123456")
    assert parse_inbound(msg.as_bytes()).is_auto_reply is expected


BOUNCE = b"""Return-Path: <>
Received: from mx.taichung.gov.tw by platform.localhost; Mon, 5 Jan 2026 10:00:05 +0800
From: Mail Delivery System <MAILER-DAEMON@mx.taichung.gov.tw>
To: noreply@platform.localhost
Subject: Undelivered Mail Returned to Sender
Message-Id: <20260105020005.ABC@mx.taichung.gov.tw>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="BOUNDARY.1"

This is a MIME-encapsulated message.

--BOUNDARY.1
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.taichung.gov.tw.

<nobody@taichung.gov.tw>: user unknown

--BOUNDARY.1
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.taichung.gov.tw

Final-Recipient: rfc822; nobody@taichung.gov.tw
Action: failed
Status: 5.1.1

--BOUNDARY.1
Content-Description: Undelivered Message
Content-Type: message/rfc822

From: noreply@platform.localhost
To: nobody@taichung.gov.tw
Subject: =?utf-8?b?6amX6K2J56K8?=
Content-Type: text/plain; charset=utf-8

Your code is 999999

--BOUNDARY.1--
""".replace(b"\n", b"\r\n")


def test_r3_2_delivery_status_bounce_is_auto_and_ignores_the_returned_message():
    msg = parse_inbound(BOUNCE)
    assert msg.is_auto_reply is True
    assert msg.message_id == "20260105020005.ABC@mx.taichung.gov.tw"
    assert msg.from_address == "mailer-daemon@mx.taichung.gov.tw"
    assert "user unknown" in msg.text
    assert "999999" not in msg.text
    # The report type alone is enough: a relay may rewrite the sender and drop the empty Return-Path.
    relayed = BOUNCE.replace(b"Return-Path: <>\r\n", b"").replace(b"MAILER-DAEMON@mx", b"bounces@mx")
    assert parse_inbound(relayed).is_auto_reply is True


# ---------------------------------------------------------------- identity of the message


def test_message_id_is_normalised_or_derived_from_the_bytes():
    raw = plain("123456").replace(b"<CAF=abc123@mail.gmail.com>", b"  <CAF=abc123@mail.gmail.com>  ")
    assert parse_inbound(raw).message_id == "CAF=abc123@mail.gmail.com"

    no_id = b"From: ming@taichung.gov.tw\r\nSubject: hi\r\n\r\n123456\r\n"
    first = parse_inbound(no_id)
    assert first.message_id == "sha256:" + hashlib.sha256(no_id).hexdigest()
    assert parse_inbound(no_id).message_id == first.message_id  # a redelivery is recognised

    threaded = b"From: a@b.tw\nIn-Reply-To: <out-1@platform.localhost>\nReferences: <x@y> <out-1@platform.localhost>\n\nok"
    assert parse_inbound(threaded).references == ["out-1@platform.localhost", "x@y"]


# ---------------------------------------------------------------- rejected input


def test_oversized_message_is_rejected():
    raw = plain("x" * 2000)
    with pytest.raises(MailRejected) as exc:
        parse_inbound(raw, max_bytes=1000)
    assert exc.value.reason == "too_large"
    with pytest.raises(MailRejected):
        parse_inbound(b"From: a@b.tw\n\n" + b"x" * (10 * 1024 * 1024))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        b"just some text without any headers\nsecond line\n",
        "我的驗證碼 123456".encode(),
        b"\x00From: a@b.tw\n\nhi",
    ],
    ids=["empty", "blank", "png", "no-headers", "chinese-text", "nul"],
)
def test_input_that_is_not_a_message_is_rejected(raw):
    with pytest.raises(MailRejected) as exc:
        parse_inbound(raw)
    assert exc.value.reason == "not_a_message"


@pytest.mark.parametrize(
    "raw",
    [
        b"To: verify+abcdefgh@platform.localhost\nSubject: hi\n\n123456",
        b"From: undisclosed\nSubject: hi\n\n123456",
        b"From: \nSubject: hi\n\n123456",
    ],
)
def test_message_without_a_from_address_is_rejected(raw):
    with pytest.raises(MailRejected) as exc:
        parse_inbound(raw)
    assert exc.value.reason == "missing_from"


def test_non_bytes_input_is_rejected():
    with pytest.raises(MailRejected):
        parse_inbound("From: a@b.tw\n\nhi")  # type: ignore[arg-type]


def test_deeply_nested_multipart_does_not_crash():
    raw = b"From: x@y.tw\nContent-Type: multipart/mixed; boundary=b0\n\n" + b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(3000)
    ) + b"--b3000\nContent-Type: text/plain\n\nhello 123456\n"
    try:
        parse_inbound(raw)
    except MailRejected:
        pass


def _mutations(rng: random.Random, seed: bytes, count: int):
    for _ in range(count):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 20)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.4 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op < 0.7:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op < 0.85:
                del data[pos:pos + rng.randint(1, 30)]
            else:
                data[pos:pos] = rng.choice([b"\n\n", b"=?utf-8?b?", b"?=", b"<", b">", b"--", b":", b"\r", b"\x00",
                                            b"Content-Type: multipart/mixed; boundary=", b"charset=big5"])
        yield bytes(data)


def test_fuzzed_input_only_ever_raises_mail_rejected():
    rng = random.Random(20260105)
    seeds = [
        plain(GMAIL_ZH, Cc="a@b.tw"),
        mime(MIMEText("<p>驗證碼 123456</p><blockquote>x</blockquote>", "html", "big5")),
        mime(MIMEText("验证码 123456", "plain", "gb18030")),
    ]
    inputs = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 400))) for _ in range(300)]
    for seed in seeds:
        inputs.extend(_mutations(rng, seed, 300))
    parsed = 0
    for raw in inputs:
        try:
            msg = parse_inbound(raw)
        except MailRejected:
            continue
        parsed += 1
        assert isinstance(msg.text, str) and isinstance(msg.subject, str) and "@" in msg.from_address
        find_code(msg.text)
    assert parsed > 100  # most mutated messages are still messages


# ---------------------------------------------------------------- finding the code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("您的驗證碼是 123456。", "123456"),
        ("驗證碼123456謝謝", "123456"),
        ("驗證碼：１２３４５６", "123456"),
        ("code: 654321\nthen 111111", "654321"),
        ("電話 0912345678，驗證碼 246813", "246813"),
        ("1234567", None),
        ("12345", None),
        ("ref A123456", None),
        ("pi is 3.141592", None),
        ("", None),
        ("沒有號碼", None),
        ("(098765)", "098765"),
    ],
)
def test_r3_2_find_code_takes_the_first_standalone_six_digits(text, code):
    assert find_code(text) == code


def test_r3_2_find_code_accepts_none():
    assert find_code(None) is None  # type: ignore[arg-type]
