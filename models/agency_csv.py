"""Agency CSV import and export from the console (issue 11 item 4), with a preview first.

The preview runs the real import inside a transaction that is rolled back, so what it reports
(rows created, updated, unchanged, and bad rows by line) is exactly what applying would do; it
also lists each change field by field. Nothing is applied until the operator confirms, and then
only the good rows are. Export writes the columns the import reads, so a file round-trips.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from .agencies import CSV_COLUMNS, Agency, ImportResult, _clean_row, _input_rows, _Rejected, import_agencies
from .base import DomainError, db
from .events import record
from .outbox import transaction
from .staff import Staff, _require_ops, clean_reason

EXPORT_COLUMNS = (*CSV_COLUMNS, "active")
LABELS = {"name": "名稱", "short_name": "簡稱", "kind": "類別", "contact_email": "聯絡信箱", "parent_code": "上級機關",
          "active": "啟用"}


@dataclass
class Preview:
    result: ImportResult
    changes: list[str] = field(default_factory=list)  # one line per created or updated agency, in zh-TW

    @property
    def applicable(self) -> bool:
        return not self.result.rejected and bool(self.result.created or self.result.updated)


class _Rollback(Exception):
    pass


def _bytes(data: bytes | str) -> bytes:
    """The file's bytes (a str is the file's text, never a path)."""
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def preview_import(data: bytes | str) -> Preview:
    """What importing `data` would do, without changing anything."""
    changes: list[str] = []
    data = _bytes(data)
    try:
        rows = _input_rows(data)
    except _Rejected as exc:
        return Preview(ImportResult(errors=[str(exc)], rejected=True))
    existing = {a.code: a for a in Agency.select()}
    for where, raw in rows:
        values, error = _clean_row(where, raw)
        if error or values is None:
            continue
        agency = existing.get(values["code"])
        if agency is None:
            changes.append(f"{where}：新增 {values['code']} {values['name']}")
            continue
        diff = [f"{LABELS[k]}「{getattr(agency, k) if getattr(agency, k) is not None else ''}」→「{v if v is not None else ''}」"
                for k, v in values.items() if k in LABELS and getattr(agency, k) != v]
        if diff:
            changes.append(f"{where}：更新 {agency.code} {agency.name}：" + "；".join(diff))
    result = ImportResult()
    try:
        with db.atomic():
            result = import_agencies(data)
            raise _Rollback
    except _Rollback:
        pass
    return Preview(result, changes)


@transaction
def apply_import(actor: Staff, data: bytes | str, reason: str, now: dt.datetime) -> ImportResult:
    """Apply the good rows of a previewed file (bad rows are skipped and reported). Ops only, recorded."""
    _require_ops(actor)
    reason = clean_reason(reason)
    result = import_agencies(_bytes(data))
    if result.rejected:
        raise DomainError(result.errors[0], "rejected")
    record(actor.actor, "agencies_imported", "agency", None, reason=reason,
           detail={"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
                   "skipped": len(result.errors)}, now=now)
    return result


def export_csv() -> str:
    """Every agency in the import's columns (UTF-8 with BOM, so spreadsheet programs read 中文)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for agency in Agency.select().order_by(Agency.code):
        writer.writerow([agency.code, agency.name, agency.short_name, agency.kind, agency.contact_email or "",
                         agency.parent_code or "", "1" if agency.active else "0"])
    return out.getvalue()
