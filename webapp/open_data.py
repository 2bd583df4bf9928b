"""Open data files and their documentation page (INTERFACES.md; issue 12 item 6, issue 13 item 3).

The files stream: the records come chunk by chunk from models.open_data and are written as they
come, so the memory of an export does not grow with the number of proposals. Each answer carries an
ETag and a Last-Modified from the newest change; a conditional GET for the copy the client already
holds is answered 304 without reading any record.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from werkzeug.http import http_date

from models import open_data
from models.base import format_taipei

from .public import csv_safe

bp = Blueprint("open_data", __name__)
LICENCE_NAME = "政府資料開放授權條款－第1版"
LICENCE_URL = "https://data.gov.tw/license"
BATCH = 100  # records per written piece


def _headers(etag: str, modified: dt.datetime | None) -> dict[str, str]:
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, no-cache"}
    if modified is not None:
        headers["Last-Modified"] = http_date(modified.replace(tzinfo=dt.UTC))
    return headers


def _client_has(etag: str, modified: dt.datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; otherwise If-Modified-Since."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and modified is not None and modified.replace(microsecond=0, tzinfo=dt.UTC) <= since


def _json_pieces(key: str, updated: dt.datetime | None, records: Iterable[dict]) -> Iterator[str]:
    stamp = format_taipei(updated, "%Y-%m-%dT%H:%M:%S+08:00") if updated else None
    yield '{"updated_at": ' + json.dumps(stamp) + ', "' + key + '": ['
    batch: list[str] = []
    first = True
    for record in records:
        batch.append(("" if first else ",") + json.dumps(record, ensure_ascii=False))
        first = False
        if len(batch) >= BATCH:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch) + "]}"


def _csv_cell(value):
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return json.dumps(value, ensure_ascii=False)
        return ";".join(str(v) for v in value)
    return csv_safe(value)


def _csv_pieces(columns: list[str], records: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    count = 0
    for record in records:
        writer.writerow([_csv_cell(record.get(name)) for name in columns])
        count += 1
        if count % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _stream(kind: str, fmt: str, records: Callable[[], Iterable[dict]], columns: list[str]) -> Response:
    etag, modified = open_data.version(kind)
    headers = _headers(etag, modified)
    if _client_has(etag, modified):
        return Response(status=304, headers=headers)
    if fmt == "json":
        body = _json_pieces(kind, modified, records())
        mimetype = "application/json"
    else:
        body = _prefixed("\ufeff", _csv_pieces(columns, records()))  # the BOM: Excel opens it as UTF-8
        mimetype = "text/csv"
        headers["Content-Disposition"] = f"attachment; filename={kind}.csv"
    return Response(stream_with_context(body), mimetype=mimetype, headers=headers)


def _prefixed(prefix: str, pieces: Iterator[str]) -> Iterator[str]:
    yield prefix
    yield from pieces


def _base_url() -> str:
    return current_app.config.get("PUBLIC_BASE_URL", "")


@bp.get("/open-data")
def documentation():
    return render_template("public/open_data.html", proposal_fields=open_data.PROPOSAL_FIELDS,
                           consultation_fields=open_data.CONSULTATION_FIELDS, licence_name=LICENCE_NAME,
                           licence_url=LICENCE_URL)


@bp.get("/open-data/proposals.json")
def proposals_json():
    return _stream("proposals", "json", open_data.proposal_records, open_data.PROPOSAL_COLUMNS)


@bp.get("/open-data/proposals.csv")
def proposals_csv():
    return _stream("proposals", "csv", open_data.proposal_records, open_data.PROPOSAL_COLUMNS)


@bp.get("/open-data/consultations.json")
def consultations_json():
    base_url = _base_url()
    return _stream("consultations", "json", lambda: open_data.consultation_records(base_url),
                   open_data.CONSULTATION_COLUMNS)


@bp.get("/open-data/consultations.csv")
def consultations_csv():
    base_url = _base_url()
    return _stream("consultations", "csv", lambda: open_data.consultation_records(base_url),
                   open_data.CONSULTATION_COLUMNS)
