"""Reading one inbound email (a reply to a verification or seconding mail, R3.2, R9.3.4).

Pure: bytes in, an `InboundMessage` out, no database. Mail is hostile input: anything that is not
a message with a From address raises `MailRejected`; nothing else escapes.
"""
from __future__ import annotations

import codecs
import contextlib
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from html.parser import HTMLParser

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_PARTS = 200
MAX_DEPTH = 20
MAX_TEXT_CHARS = 100_000
MAX_BODY_CHARS = 1_000_000  # what is read of the chosen body part; a reply's new text is at its top
# Caps that keep hostile headers from costing seconds of CPU (decode_header and getaddresses are slow on junk).
MAX_SUBJECT_CHARS = 4096
MAX_ADDRESS_HEADER_CHARS = 64 * 1024
MAX_ADDRESSES = 2000

RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply", "list"}
DAEMON_LOCAL_PARTS = {"mailer-daemon", "postmaster"}

TOKEN_RE = re.compile(r"^verify\+([A-Za-z0-9_-]{8,64})$", re.IGNORECASE)
HEADER_NAME_RE = re.compile(rb"^[!-9;-~]+[ \t]*:")
CODE_RE = re.compile(r"(?<![0-9A-Za-z])(?<![0-9][.,])([0-9]{6})(?![0-9A-Za-z])")

# Labels MUAs put on the charsets they mean; each maps to a Python codec that is a superset.
CHARSET_ALIASES = {
    "big5": "cp950", "x-big5": "cp950", "big-5": "cp950", "cn-big5": "cp950", "big5-eten": "cp950",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "shift_jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8", "8bit": "utf-8",
}
FALLBACK_CHARSETS = ("utf-8", "cp950", "gb18030")


class MailRejected(Exception):
    """The input is not a message this service can act on; `reason` is a short code for logs."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class InboundMessage:
    message_id: str
    from_address: str
    recipients: list[str] = field(default_factory=list)
    reply_tokens: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    is_auto_reply: bool = False
    # The receiving mail server said the From failed DMARC (Authentication-Results): not trusted.
    sender_unauthenticated: bool = False
    references: list[str] = field(default_factory=list)  # In-Reply-To, then References


# ---------------------------------------------------------------- decoding


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text of `data` in its declared charset, else the first of UTF-8/Big5/GB18030 that fits; never raises."""
    codec = _codec(charset)
    if codec:
        with contextlib.suppress(Exception):  # a codec may still choke on hostile input
            return data.decode(codec, errors="replace")
    for name in FALLBACK_CHARSETS:
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _raw_bytes(value: str) -> bytes:
    """Header text from BytesParser back to bytes (8-bit bytes arrive as surrogate escapes)."""
    return value.encode("utf-8", errors="surrogateescape")


def _clean_line(text: str) -> str:
    text = "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf") else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def decode_header_text(value: str) -> str:
    """A header value as text: RFC 2047 encoded words and raw 8-bit (UTF-8, Big5) both understood."""
    unfolded = re.sub(r"\r?\n[ \t]+", " ", value[:MAX_SUBJECT_CHARS])
    raw = _raw_bytes(unfolded)
    try:
        ascii_value = raw.decode("ascii")
    except UnicodeDecodeError:
        return _clean_line(decode_bytes(raw))
    try:
        pieces = []
        for chunk, charset in decode_header(ascii_value):
            pieces.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
        return _clean_line("".join(pieces))
    except Exception:  # noqa: BLE001 -- malformed encoded words: show what was sent
        return _clean_line(ascii_value)


def _headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in msg.raw_items() if key.lower() == wanted and isinstance(value, str)]


def _first_header(msg: Message, name: str) -> str | None:
    values = _headers(msg, name)
    return values[0] if values else None


def _addresses(values: list[str]) -> list[str]:
    """addr-specs in these address headers, original case, syntactically plausible only."""
    found: list[str] = []
    for value in values:
        if len(found) >= MAX_ADDRESSES:
            break
        if len(value) > MAX_ADDRESS_HEADER_CHARS:  # keep whole addresses only
            value = value[:MAX_ADDRESS_HEADER_CHARS].rpartition(",")[0]
        text = re.sub(r"\r?\n[ \t]+", " ", value)
        text = _raw_bytes(text).decode("utf-8", errors="replace")
        try:
            pairs = getaddresses([text])
        except Exception:  # noqa: BLE001 -- an unparseable header simply holds no address
            pairs = []
        for _name, addr in pairs:
            addr = addr.strip()
            local, at, domain = addr.rpartition("@")
            if not at or not local or not domain or len(addr) > 254:
                continue
            if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in addr):
                continue
            found.append(addr)
    return found[:MAX_ADDRESSES]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _message_ids(value: str) -> list[str]:
    text = _raw_bytes(re.sub(r"\s+", " ", value)).decode("utf-8", errors="replace")
    ids = [m.strip() for m in re.findall(r"<([^<>]*)>", text)]
    if not ids:
        ids = text.split()
    return [i for i in (re.sub(r"[\s\x00-\x1f\x7f]", "", i) for i in ids) if i and len(i) <= 500]


# ---------------------------------------------------------------- auto replies and bounces


def _is_auto_reply(msg: Message, from_address: str) -> bool:
    auto = _first_header(msg, "Auto-Submitted")
    if auto is not None and auto.split(";")[0].strip().lower() not in ("no", ""):
        return True
    if _first_header(msg, "X-Autoreply") is not None or _first_header(msg, "X-Autorespond") is not None:
        return True
    precedence = (_first_header(msg, "Precedence") or "").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return True
    if any(v.strip() == "<>" for v in _headers(msg, "Return-Path")):
        return True
    if from_address.partition("@")[0] in DAEMON_LOCAL_PARTS:
        return True
    content_type = (_first_header(msg, "Content-Type") or "").lower()
    return content_type.split(";")[0].strip() == "multipart/report"


# ---------------------------------------------------------------- the body


class _HTMLText(HTMLParser):
    """Visible text of an HTML body; blockquotes become '> ' lines so quote removal sees them."""

    SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                       "pre", "hr", "section", "article", "header", "footer", "blockquote", "dt", "dd"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _break(self) -> None:
        line = "".join(self.current).strip()
        self.current = []
        if line:
            self.lines.append(("> " * self.quote) + line)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self._break()
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in self.BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self._break()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            for i, piece in enumerate(data.split("\n")):
                if i:
                    self._break()
                self.current.append(piece)
        else:
            self.current.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (script and style dropped), one block per line."""
    parser = _HTMLText()
    with contextlib.suppress(Exception):  # html.parser is lenient, but hostile input must never escape
        parser.feed(html)
        parser.close()
    return parser.text()


def _is_attachment(part: Message) -> bool:
    disposition = (_first_header(part, "Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment"


def _text_parts(msg: Message) -> tuple[Message | None, Message | None]:
    """The first inline text/plain and text/html parts, not descending into attached messages."""
    plain = html = None
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop(0)
        seen += 1
        ctype = part.get_content_type()
        if part.is_multipart():
            if depth < MAX_DEPTH and not ctype.startswith("message/"):
                payload = part.get_payload()
                if isinstance(payload, list):
                    stack[0:0] = [(p, depth + 1) for p in payload if isinstance(p, Message)]
            continue
        if _is_attachment(part):
            continue
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html is None:
            html = part
        if plain is not None:
            break
    return plain, html


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 -- a broken transfer encoding: fall back to the raw payload
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = _raw_bytes(raw) if isinstance(raw, str) else b""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 -- a broken charset parameter: guess from the bytes
        charset = None
    return decode_bytes(payload, charset)


def _body_text(msg: Message) -> str:
    plain, html = _text_parts(msg)
    if plain is not None:
        return _part_text(plain)[:MAX_BODY_CHARS]
    if html is not None:
        return html_to_text(_part_text(html)[:MAX_BODY_CHARS])
    return ""


# ---------------------------------------------------------------- removing quotes and signatures

_ATTRIBUTION_END = re.compile(r"(wrote|寫道|写道)\s*[:：]\s*$", re.IGNORECASE)
_ATTRIBUTION = (
    re.compile(r"^On\s.+\swrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"(於|于|在).+(寫道|写道)\s*[:：]\s*$", re.DOTALL),
)
_SEPARATORS = (
    re.compile(r"^-{2,}\s*(Original Message|原始郵件|原始邮件|原始訊息|Forwarded message|轉寄郵件)\s*-{2,}\s*$",
               re.IGNORECASE),
    re.compile(r"^_{20,}\s*$"),
)
_FROM_LINE = re.compile(r"^\*?\s*(From|寄件者|寄件人|發件人|发件人)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_LINE = re.compile(
    r"^\*?\s*(Sent|Date|To|Cc|Subject|寄件日期|日期|收件者|收件人|副本|主旨|主題|主题|发送时间|發送時間|时间|時間)\s*\*?\s*[:：]",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^-- ?$")


def _attribution_start(lines: list[str], i: int) -> int | None:
    """Where the 'On ... wrote:' line ending at line i starts (clients wrap it), if it is one."""
    for k in range(max(0, i - 2), i + 1):
        block = lines[k:i + 1]
        if any(not line.strip() for line in block):
            continue
        joined = " ".join(line.strip() for line in block)
        if any(p.search(joined) for p in _ATTRIBUTION):
            return k
    return None


def _quote_cut(lines: list[str]) -> int:
    """Index of the first line of the quoted original (or signature); len(lines) if none."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _SIGNATURE.match(line.rstrip("\r")):
            return i
        if any(p.match(stripped) for p in _SEPARATORS):
            return i
        if _FROM_LINE.match(stripped):
            following = [x.strip() for x in lines[i + 1:i + 6] if x.strip()]
            if any(_HEADER_LINE.match(x) for x in following[:4]):
                return i
        if _ATTRIBUTION_END.search(stripped):
            start = _attribution_start(lines, i)
            if start is not None:
                return start
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new text of a reply: no '>' lines, nothing after the quoted original's header or a '-- ' line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[:_quote_cut(lines)]
    kept = [line.rstrip() for line in lines if not line.lstrip().startswith(">")]
    out = "\n".join(kept).strip("\n")
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


# ---------------------------------------------------------------- the entry points


def _looks_like_message(raw: bytes) -> bool:
    head = raw.lstrip(b"\r\n")
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"From ") and b"\n" in head:  # mbox envelope line
        first = head.split(b"\n", 2)[1]
    header_end = re.search(rb"\r?\n\r?\n", head)
    header = head[:header_end.start()] if header_end else head
    return bool(HEADER_NAME_RE.match(first)) and b"\x00" not in header


def parse_inbound(raw: bytes, max_bytes: int = MAX_BYTES) -> InboundMessage:
    """Parse one raw RFC 822 message; raises MailRejected for oversized, unparseable or sender-less input."""
    try:
        return _parse(raw, max_bytes)
    except MailRejected:
        raise
    except Exception as exc:  # noqa: BLE001 -- hostile input must never surface as anything but a rejection
        log.exception("inbound mail could not be read")
        raise MailRejected("not_a_message", f"unreadable ({type(exc).__name__})") from None


def _parse(raw: bytes, max_bytes: int) -> InboundMessage:
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise MailRejected("not_a_message", "expected bytes")
    if len(raw) > max_bytes:
        raise MailRejected("too_large", f"{len(raw)} bytes > {max_bytes}")
    if not raw.strip() or not _looks_like_message(raw):
        raise MailRejected("not_a_message", "no header section")
    msg = message_from_bytes(raw, policy=compat32)
    if not list(msg.raw_items()):
        raise MailRejected("not_a_message", "no headers")

    senders = _addresses(_headers(msg, "From"))
    if not senders:
        raise MailRejected("missing_from", "no From address")
    from_address = senders[0].lower()

    message_ids = _message_ids(_first_header(msg, "Message-ID") or "")
    message_id = message_ids[0] if message_ids else "sha256:" + hashlib.sha256(raw).hexdigest()

    # Each header capped on its own: a huge To must not push the Delivered-To that carries the token out.
    original_recipients = _dedupe([a for name in RECIPIENT_HEADERS for a in _addresses(_headers(msg, name))])
    tokens = []
    for addr in original_recipients:
        match = TOKEN_RE.match(addr.rpartition("@")[0])
        if match:
            tokens.append(match.group(1))

    references = []
    for name in ("In-Reply-To", "References"):
        for value in _headers(msg, name):
            references.extend(_message_ids(value))

    try:
        text = strip_quoted(_body_text(msg))[:MAX_TEXT_CHARS]
    except RecursionError:
        text = ""

    return InboundMessage(
        message_id=message_id,
        from_address=from_address,
        recipients=_dedupe([a.lower() for a in original_recipients]),
        reply_tokens=_dedupe(tokens),
        subject=decode_header_text(_first_header(msg, "Subject") or ""),
        text=text,
        is_auto_reply=_is_auto_reply(msg, from_address),
        sender_unauthenticated=any(re.search(r"\bdmarc\s*=\s*fail\b", v, re.IGNORECASE)
                                   for v in _headers(msg, "Authentication-Results")),
        references=_dedupe(references),
    )


def find_code(text: str) -> str | None:
    """The first standalone 6-digit code in the text (full-width digits too), or None."""
    if not text:
        return None
    match = CODE_RE.search(unicodedata.normalize("NFKC", text))
    return match.group(1) if match else None
