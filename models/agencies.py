"""Responsible agencies (權責機關, R2.2): the city's first-level agencies and its district offices.

The list is data (`data/agencies.csv`), loaded and refreshed with `import_agencies`; the officials'
chat and the console find an agency with `search_agencies`.
"""
from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import peewee

from .base import BaseModel, db, row_by, utcnow

FIRST_LEVEL = "first_level"
DISTRICT = "district"
KINDS = (FIRST_LEVEL, DISTRICT)
KIND_LABELS = {FIRST_LEVEL: "一級機關", DISTRICT: "區公所"}

SHIPPED_CSV = Path(__file__).resolve().parent.parent / "data" / "agencies.csv"

CSV_COLUMNS = ("code", "name", "short_name", "kind", "contact_email", "parent_code")
REQUIRED_COLUMNS = ("code", "name", "short_name", "kind")
OPTIONAL_COLUMNS = ("contact_email", "parent_code", "active")

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
MAX_LENGTHS = {"code": 32, "name": 100, "short_name": 40, "contact_email": 254, "parent_code": 32}
MAX_SEARCH_TEXT = 100

CODE_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9_-]{0,31})$")
# Deliberately plain: the address must be deliverable by an ordinary MTA, not merely RFC 5322-legal.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
TRUE_WORDS = {"1", "true", "yes", "y", "是", "啟用"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "停用"}

# Prefixes officials type in front of what they mean ("台中市政府研考會", "臺中市西屯區").
CITY_PREFIXES = ("臺中市政府", "臺中市")

# Text for people (zh-TW), one place.
MSG = {
    "too_large": "檔案超過 2 MB，未匯入任何資料。",
    "too_many_rows": "資料超過 5000 列，未匯入任何資料。",
    "binary": "檔案含有二進位資料（NUL 字元），不是 CSV 檔，未匯入任何資料。",
    "utf16": "檔案是 UTF-16/UTF-32 編碼，請另存為「CSV UTF-8」後再匯入；未匯入任何資料。",
    "not_utf8": "檔案不是 UTF-8 編碼{hint}，請另存為「CSV UTF-8」後再匯入；未匯入任何資料。",
    "big5_hint": "（看起來是 Big5）",
    "empty": "檔案是空的，未匯入任何資料。",
    "bad_csv": "CSV 格式錯誤（第 {line} 行）：{detail}；未匯入任何資料。",
    "missing_columns": "標題列缺少欄位：{columns}（應為 {expected}）；未匯入任何資料。",
    "unknown_columns": "標題列有不認得的欄位：{columns}（應為 {expected}）；未匯入任何資料。",
    "duplicate_columns": "標題列有重複的欄位：{columns}；未匯入任何資料。",
    "bad_input": "無法讀取匯入資料：{detail}；未匯入任何資料。",
    "conflict": "另一項匯入同時進行，請稍後重試；未匯入任何資料。",
    "extra_fields": "{where}：欄位數多於標題列，已略過。",
    "required": "{where}：「{column}」不可空白，已略過。",
    "too_long": "{where}：「{column}」超過 {limit} 字，已略過。",
    "control_chars": "{where}：「{column}」含有控制字元或不可見字元，已略過。",
    "bad_code": "{where}：代碼「{value}」只能用英文字母、數字、「-」或「_」，最多 32 字，已略過。",
    "bad_kind": "{where}：種類「{value}」不正確（應為 first_level 或 district），已略過。",
    "bad_email": "{where}：電子郵件「{value}」格式不正確，已略過。",
    "bad_active": "{where}：「active」應為 1 或 0，已略過。",
    "duplicate_code": "{where}：代碼「{value}」與{first}重複，已略過。",
    "self_parent": "{where}：上級機關代碼不可為自己，已略過。",
    "unknown_parent": "{where}：上級機關代碼「{value}」不存在，已略過。",
}


class Agency(BaseModel):
    """A responsible agency (權責機關): a first-level agency or a district office."""

    code = peewee.CharField(max_length=32, unique=True)
    name = peewee.CharField(max_length=100)
    short_name = peewee.CharField(max_length=40)
    kind = peewee.CharField(max_length=20)
    contact_email = peewee.CharField(max_length=254, null=True)
    parent_code = peewee.CharField(max_length=32, null=True)
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    # The address someone proved they read by clicking a test email's link (models/agency_admin.py).
    contact_confirmed_email = peewee.CharField(max_length=254, null=True)
    contact_confirmed_at = peewee.DateTimeField(null=True)
    # More addresses (one a line) that get every notice too, and those of them someone confirmed.
    extra_contact_emails = peewee.TextField(null=True)
    extra_confirmed_emails = peewee.TextField(null=True)

    @property
    def contact_emails(self) -> list[str]:
        """Every address a notice to this agency goes to: the main one first, then the others."""
        return [e for e in [self.contact_email, *(self.extra_contact_emails or "").split()] if e]

    @property
    def confirmed_emails(self) -> set[str]:
        main = {self.contact_email} if self.contact_email and self.contact_confirmed_email == self.contact_email else set()
        return main | (set((self.extra_confirmed_emails or "").split()) & set(self.contact_emails))

    @property
    def contact_confirmed(self) -> bool:
        """Every current address was proven read (by a test email's link)."""
        return bool(self.contact_email) and set(self.contact_emails) <= self.confirmed_emails

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def __str__(self) -> str:
        return self.name




@dataclass
class ImportResult:
    """What `import_agencies` did. `rejected` means the whole file was refused and nothing changed."""

    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class _Rejected(Exception):
    pass


# ---------------------------------------------------------------- normalising


def normalize_text(text: str) -> str:
    """The form used to compare names: stripped, NFKC, 台→臺, no inner spaces."""
    text = unicodedata.normalize("NFKC", text or "").strip().replace("台", "臺")
    return re.sub(r"\s+", "", text)


def _has_control_chars(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value)


# ---------------------------------------------------------------- reading the input


def _decode_csv_bytes(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise _Rejected(MSG["too_large"])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _Rejected(MSG["utf16"])
    if b"\x00" in data:
        raise _Rejected(MSG["binary"])
    # A UTF-8 BOM is what Excel writes for "CSV UTF-8"; accept it rather than make operators fight Excel.
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        hint = ""
        try:
            data.decode("cp950")
            hint = MSG["big5_hint"]
        except UnicodeDecodeError:
            pass
        raise _Rejected(MSG["not_utf8"].format(hint=hint)) from None


def _read_bounded(stream: IO[Any]) -> bytes | str:
    data = stream.read(MAX_IMPORT_BYTES + 1)
    if len(data.encode("utf-8") if isinstance(data, str) else data) > MAX_IMPORT_BYTES:
        raise _Rejected(MSG["too_large"])
    return data


def _csv_text(source: str | os.PathLike | bytes | IO[Any]) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_csv_bytes(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_IMPORT_BYTES:
                raise _Rejected(MSG["too_large"])
            with path.open("rb") as handle:
                data = _read_bounded(handle)
        except OSError as exc:
            raise _Rejected(MSG["bad_input"].format(detail=exc.strerror or exc)) from None
        return _decode_csv_bytes(data)  # type: ignore[arg-type]
    data = _read_bounded(source)
    if isinstance(data, str):
        if "\x00" in data:
            raise _Rejected(MSG["binary"])
        return data.lstrip("\ufeff")
    return _decode_csv_bytes(data)


def _csv_rows(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Rows of the CSV as (where, fields); the header is checked here."""
    if not text.strip():
        raise _Rejected(MSG["empty"])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise _Rejected(MSG["bad_csv"].format(line=reader.line_num, detail=exc)) from None
    # Spreadsheets add unnamed trailing columns; those are ignored, like their (blank) values.
    columns = [c.strip().lower() for c in header]
    expected = ",".join(CSV_COLUMNS)
    duplicates = sorted(c for c, n in Counter(c for c in columns if c).items() if n > 1)
    if duplicates:
        raise _Rejected(MSG["duplicate_columns"].format(columns="、".join(duplicates)))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise _Rejected(MSG["missing_columns"].format(columns="、".join(missing), expected=expected))
    unknown = [c for c in columns if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise _Rejected(MSG["unknown_columns"].format(columns="、".join(unknown), expected=expected))

    rows: list[tuple[str, dict[str, Any]]] = []
    start = reader.line_num + 1
    try:
        for values in reader:
            where = f"第 {start} 行"
            start = reader.line_num + 1
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(rows) >= MAX_IMPORT_ROWS:
                raise _Rejected(MSG["too_many_rows"])
            fields: dict[str, Any] = {c: v for c, v in zip(columns, values, strict=False) if c}
            unnamed = [v for c, v in zip(columns, values, strict=False) if not c]
            if len(values) > len(columns) or any(v.strip() for v in unnamed):
                fields["__extra__"] = True
            rows.append((where, fields))
    except csv.Error as exc:
        raise _Rejected(MSG["bad_csv"].format(line=reader.line_num, detail=exc)) from None
    return rows


def _input_rows(rows_or_file: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(rows_or_file, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(rows_or_file, "read"):
        return _csv_rows(_csv_text(rows_or_file))
    rows: list[tuple[str, dict[str, Any]]] = []
    for number, row in enumerate(rows_or_file, start=1):
        if len(rows) >= MAX_IMPORT_ROWS:
            raise _Rejected(MSG["too_many_rows"])
        if not isinstance(row, Mapping):
            raise _Rejected(MSG["bad_input"].format(detail=f"第 {number} 筆不是欄位對照表"))
        rows.append((f"第 {number} 筆", {str(k).strip().lower(): v for k, v in row.items()}))
    return rows


# ---------------------------------------------------------------- validating a row


def _clean_row(where: str, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The row's values ready to store, or the reason it is skipped."""
    if raw.get("__extra__"):
        return None, MSG["extra_fields"].format(where=where)
    values: dict[str, Any] = {}
    for column in CSV_COLUMNS:
        value = raw.get(column)
        value = "" if value is None else str(value).strip()
        if _has_control_chars(value):
            return None, MSG["control_chars"].format(where=where, column=column)
        if column in REQUIRED_COLUMNS and not value:
            return None, MSG["required"].format(where=where, column=column)
        limit = MAX_LENGTHS.get(column)
        if limit and len(value) > limit:
            return None, MSG["too_long"].format(where=where, column=column, limit=limit)
        values[column] = value

    values["code"] = values["code"].upper()
    if not CODE_RE.match(values["code"]):
        return None, MSG["bad_code"].format(where=where, value=values["code"][:40])
    values["kind"] = values["kind"].lower()
    if values["kind"] not in KINDS:
        return None, MSG["bad_kind"].format(where=where, value=values["kind"][:40])
    email = values["contact_email"]
    if email:
        if not EMAIL_RE.match(email):
            return None, MSG["bad_email"].format(where=where, value=email[:80])
        local, _, domain = email.rpartition("@")
        values["contact_email"] = f"{local}@{domain.lower()}"
    else:
        values["contact_email"] = None
    parent = values["parent_code"].upper()
    if parent and not CODE_RE.match(parent):
        return None, MSG["bad_code"].format(where=where, value=parent[:40])
    if parent == values["code"]:
        return None, MSG["self_parent"].format(where=where)
    values["parent_code"] = parent or None

    active = raw.get("active")
    if active is not None and str(active).strip() != "":
        if isinstance(active, bool):
            values["active"] = active
        elif str(active).strip().lower() in TRUE_WORDS:
            values["active"] = True
        elif str(active).strip().lower() in FALSE_WORDS:
            values["active"] = False
        else:
            return None, MSG["bad_active"].format(where=where)
    return values, None


# ---------------------------------------------------------------- domain functions


def _rows_with_known_parents(existing: Iterable[str], cleaned: list[tuple[int, str, dict[str, Any]]]) -> set[str]:
    """Codes of the file's rows whose parent is none, a stored agency, or another accepted row."""
    known = set(existing)
    accepted: set[str] = set()
    pending = {values["code"]: values["parent_code"] for _, _, values in cleaned}
    progress = True
    while progress:
        progress = False
        for code, parent in list(pending.items()):
            if parent is None or parent in known or parent in accepted:
                accepted.add(code)
                del pending[code]
                progress = True
    return accepted


def import_agencies(rows_or_file: Any) -> ImportResult:
    """Create or update agencies by code from a CSV (path, bytes, file) or rows of dicts, in one transaction.

    Bad rows are skipped with a zh-TW error naming their line; a file that is too large, too long,
    not UTF-8 or not a CSV of the expected columns is refused whole (`rejected`) and changes nothing.
    """
    try:
        rows = _input_rows(rows_or_file)
    except _Rejected as exc:
        return ImportResult(errors=[str(exc)], rejected=True)

    result = ImportResult()
    cleaned: list[tuple[int, str, dict[str, Any]]] = []
    row_errors: list[tuple[int, str]] = []  # (row index, message), reported in file order
    first_seen: dict[str, str] = {}
    for index, (where, raw) in enumerate(rows):
        values, error = _clean_row(where, raw)
        if error:
            row_errors.append((index, error))
            continue
        assert values is not None
        code = values["code"]
        if code in first_seen:
            row_errors.append((index, MSG["duplicate_code"].format(where=where, value=code, first=first_seen[code])))
            continue
        first_seen[code] = where
        cleaned.append((index, where, values))

    try:
        with db.atomic():
            existing = {a.code: a for a in Agency.select()}
            accepted = _rows_with_known_parents(existing.keys(), cleaned)
            now = utcnow()
            for index, where, values in cleaned:
                parent = values["parent_code"]
                if values["code"] not in accepted:
                    row_errors.append((index, MSG["unknown_parent"].format(where=where, value=parent)))
                    continue
                agency = existing.get(values["code"])
                if agency is None:
                    Agency.create(**values, created_at=now, updated_at=now)
                    result.created += 1
                    continue
                changed = {k: v for k, v in values.items() if getattr(agency, k) != v}
                if not changed:
                    result.unchanged += 1
                    continue
                for key, value in changed.items():
                    setattr(agency, key, value)
                agency.updated_at = now
                agency.save()
                result.updated += 1
    except peewee.IntegrityError:
        return ImportResult(errors=[MSG["conflict"]], rejected=True)
    result.errors = [message for _, message in sorted(row_errors)]
    return result


def get_agency(code: str) -> Agency | None:
    """The agency with this code (case-insensitive), active or not; None if there is none."""
    code = (code or "").strip().upper()
    if not CODE_RE.match(code):
        return None
    return row_by(Agency.code, code)  # every code email names the proposal's agency


def active_agencies() -> list[Agency]:
    """Every active agency: first-level agencies, then district offices, each in the order loaded."""
    agencies = list(Agency.select().where(Agency.active))
    return sorted(agencies, key=lambda a: (a.kind != FIRST_LEVEL, a.id))


def subordinates_of(code: str) -> list[Agency]:
    """An agency's own active subordinate agencies (附屬機關: their parent is this agency), R9.2.5(2)."""
    code = (code or "").strip().upper()
    return list(Agency.select().where((Agency.parent_code == code) & Agency.active).order_by(Agency.name))


def _strip_city_prefix(text: str) -> str:
    for prefix in CITY_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix):]
    return text


def _match_rank(agency: Agency, queries: list[str]) -> int | None:
    short = normalize_text(agency.short_name)
    name = normalize_text(agency.name)
    bare_name = _strip_city_prefix(name)
    best: int | None = None
    for q in queries:
        if q == short or q == agency.code:
            rank = 0
        elif q == name or q == bare_name:
            rank = 1
        elif short.startswith(q) or bare_name.startswith(q):
            rank = 2
        elif q in short:
            rank = 3
        elif q in name:
            rank = 4
        else:
            continue
        best = rank if best is None else min(best, rank)
    return best


def search_agencies(text: str, limit: int = 5) -> list[Agency]:
    """Active agencies whose name or short name contains the text (台/臺 and full-width forms alike).

    Best first: exact short name or code, then exact full name, then names starting with the text,
    then names containing it; shorter names before longer ones.
    """
    query = normalize_text(text or "")
    if not query or len(query) > MAX_SEARCH_TEXT:
        return []
    limit = max(1, min(int(limit), 50))
    queries = [query.upper() if query.isascii() else query]
    stripped = _strip_city_prefix(query)
    if stripped != query:
        queries.append(stripped)
    ranked = []
    for agency in active_agencies():
        rank = _match_rank(agency, queries)
        if rank is not None:
            ranked.append((rank, len(agency.name), agency.kind != FIRST_LEVEL, agency.id, agency))
    ranked.sort(key=lambda item: item[:4])
    return [item[-1] for item in ranked[:limit]]
