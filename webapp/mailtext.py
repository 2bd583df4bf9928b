"""Decoding the text of one inbound email: charsets, HTML, MIME parts, and the quoted original cut off.

Pure and defensive: mail is hostile input, so every step is capped (parts, depth, characters).
"""
from __future__ import annotations

import codecs
import contextlib
import logging
import re
import unicodedata
from email.header import decode_header
from email.message import Message
from html.parser import HTMLParser

from models.texts import CODE_MAIL_BODY

log = logging.getLogger(__name__)

MAX_PARTS = 200
MAX_DEPTH = 20
MAX_TEXT_CHARS = 100_000
# Caps that keep hostile headers from costing seconds of CPU (decode_header is slow on junk).
MAX_SUBJECT_CHARS = 4096
MAX_BODY_CHARS = 1_000_000  # what is read of the chosen body part; a reply's new text is at its top
# Labels MUAs put on the charsets they mean; each maps to a Python codec that is a superset.
CHARSET_ALIASES = {
    "big5": "cp950", "x-big5": "cp950", "big-5": "cp950", "cn-big5": "cp950", "big5-eten": "cp950",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "shift_jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8", "8bit": "utf-8",
}
FALLBACK_CHARSETS = ("utf-8", "cp950", "gb18030")


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
            elif tag == "hr":
                self.lines.append("-----")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in self.BLOCK:
            self._break()
        if tag == "hr":  # Outlook puts the quoted original's headers under a rule: keep it as a separator
            self.lines.append("-----")

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


def _headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in msg.raw_items() if key.lower() == wanted and isinstance(value, str)]


def _first_header(msg: Message, name: str) -> str | None:
    values = _headers(msg, name)
    return values[0] if values else None


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
    re.compile(r"^[-=_*~－＝＿]{5,}\s*$"),  # a bare rule line, above a pasted original (and <hr>)
    re.compile(r"^(Begin forwarded message|開始轉寄的郵件|轉寄的郵件)\s*[:：]?\s*$", re.IGNORECASE),
)
# Lines of the code email itself (models.texts.CODE_MAIL_BODY up to its first placeholder): an
# original pasted back without any quote mark starts being cut at the first of them.
_OWN_MAIL_LINES = tuple(
    prefix for prefix in (line.split("{", 1)[0].strip() for line in CODE_MAIL_BODY.splitlines()) if len(prefix) >= 6
)
_QUOTE_MARKS = (">", "|", "＞", "｜")
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
        if stripped.startswith(_OWN_MAIL_LINES):
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
    """The new text of a reply: no quoted lines ('>' or '|', full-width too), nothing after the quoted
    original's header (Gmail, Outlook, Apple Mail, zh-TW clients), a separator line, a line of the
    code email pasted back unquoted, or a '-- ' signature line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[:_quote_cut(lines)]
    kept = [line.rstrip() for line in lines if not line.lstrip().startswith(_QUOTE_MARKS)]
    out = "\n".join(kept).strip("\n")
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


# ---------------------------------------------------------------- the entry points
