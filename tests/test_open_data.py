"""Open data with the text (issue 12 item 6) that streams with caching headers (issue 13 item 3):
each lead's decision and reasons (R9.4.3), meeting summaries (R9.4.2), the extension reason (R9.4.4),
removed proposals without text (R7), no personal data (R3.0), conditional GETs answered 304."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging

import pytest

from models import open_data
from models.base import taipei_date, utcnow
from models.calendar import due_date, today_taipei
from models.consultations import Consultation
from models.opinions import give_opinion
from models.proposals import ESTABLISHED, Proposal, remove
from models.response_publishing import publish_response, record_meeting_summary, schedule_meeting
from models.responses import extend_deadline
from models.seconds import Second
from tests.factories import reload, seconding_proposal, verified_official
from tests.helpers import load_agencies, page_text

REASONS = "本府已編列相關經費，並會同人事處研議實施方式，評估可行。"
PLAN = "自明年七月起於民政局試辦半年，試辦結束後檢討推廣至各機關。"
SUMMARY = "與會機關同意先行試辦半年，再評估推廣。"
EXTENSION = "需會同人事處及主計處研議經費來源，延長一次。"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def established_now(official=None, *, agency: str = "CIVIL", title: str = "推動公文線上簽核全面無紙化") -> Proposal:
    """Established and notified today, as models.seconds leaves it: the response clock runs from today."""
    proposal = seconding_proposal(official, agency=agency, title=title)
    now = utcnow()
    Proposal.update(state=ESTABLISHED, second_count=200, established_at=now - dt.timedelta(days=1),
                    notice_due=taipei_date(now), notified_at=now,
                    response_due=due_date("R9.4.4", taipei_date(now))).where(Proposal.id == proposal.id).execute()
    return reload(proposal)


def answered(ops_staff) -> Proposal:
    """A proposal with a meeting summary, an extension and a published response."""
    official = verified_official(nickname="創新小組", real_name="陳真名", email="chen.secret@taichung.gov.tw")
    proposal = established_now(official)
    meeting = schedule_meeting(proposal.id, ops_staff, today_taipei(), "14:00 市政大樓惠中樓501會議室", "提案人、人事處林科長")
    record_meeting_summary(meeting.id, ops_staff, SUMMARY)
    extend_deadline(proposal.id, ops_staff, EXTENSION)
    publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN)
    return reload(proposal)


def csv_rows(client, path: str) -> tuple[list[str], list[dict]]:
    text = client.get(path).get_data(as_text=True)
    assert text.startswith("\ufeff")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    return reader.fieldnames, rows


def test_r9_4_3_open_data_carries_the_text_each_leads_decision_meetings_and_extension(app, client, ops_staff):
    proposal = answered(ops_staff)
    record = client.get("/open-data/proposals.json").get_json()["proposals"][0]
    assert record["id"] == proposal.id and record["state"] == "responded" and record["proposer"] == "創新小組"
    assert record["title"] == proposal.title and record["content"] == proposal.content
    assert record["benefits"] == proposal.benefits and record["evidence"] == proposal.evidence
    assert record["lead_agencies"] == ["臺中市政府民政局"]
    [response] = record["responses"]
    assert response["decision"] == "adopt" and response["decision_label"] == "同意參採"
    assert response["reasons"] == REASONS and response["plan"] == PLAN
    assert record["meetings"] == [{"held_on": today_taipei().isoformat(), "summary": SUMMARY}]
    assert record["extension_reason"] == EXTENSION and record["response_extended_due"] == proposal.response_extended_due.isoformat()

    columns, rows = csv_rows(client, "/open-data/proposals.csv")
    assert columns == open_data.PROPOSAL_COLUMNS
    row = rows[0]
    assert row["content"] == proposal.content and row["evidence"] == proposal.evidence
    assert row["extension_reason"] == EXTENSION and row["lead_agencies"] == "臺中市政府民政局"
    assert json.loads(row["responses"])[0]["reasons"] == REASONS
    assert json.loads(row["meetings"])[0]["summary"] == SUMMARY

    for body in (json.dumps(record, ensure_ascii=False), client.get("/open-data/proposals.csv").get_data(as_text=True)):
        for personal in ("陳真名", "chen.secret", "林科長", "惠中樓", "staff:", ops_staff.email):
            assert personal not in body


def test_r7_removed_proposal_keeps_its_row_state_and_clause_but_no_text(app, client, ops_staff):
    proposal = answered(ops_staff)
    remove(proposal.id, ops_staff.actor, "R7.3", "內容涉及人身攻擊特定同仁")
    [record] = client.get("/open-data/proposals.json").get_json()["proposals"]
    assert record["id"] == proposal.id and record["state"] == "removed"
    assert record["removal_ground"] == "R7.3" and record["removal_ground_label"].startswith("第七點第3款")
    for field in ("title", "proposer", "content", "benefits", "evidence", "extension_reason", "response_decision"):
        assert record[field] is None, field
    assert record["responses"] == [] and record["meetings"] == []
    assert record["established_at"] and record["valid_seconds"] == 200
    _, rows = csv_rows(client, "/open-data/proposals.csv")
    assert rows[0]["state"] == "removed" and rows[0]["removal_ground"] == "R7.3"
    text = client.get("/open-data/proposals.csv").get_data(as_text=True)
    for secret in (REASONS, SUMMARY, EXTENSION, proposal.content, proposal.title, "人身攻擊特定同仁"):
        assert secret not in text


def test_open_data_streams_chunk_by_chunk_in_id_order(app, client, monkeypatch):
    monkeypatch.setattr(open_data, "CHUNK", 2)
    ids = [seconding_proposal(title=f"推動第{n}項改善措施").id for n in range(5)]
    response = client.get("/open-data/proposals.json", buffered=False)  # as gunicorn sends it
    assert response.is_streamed
    assert [r["id"] for r in json.loads(response.get_data(as_text=True))["proposals"]] == ids
    _, rows = csv_rows(client, "/open-data/proposals.csv")
    assert [int(r["id"]) for r in rows] == ids
    assert [r["title"] for r in rows] == [f"推動第{n}項改善措施" for n in range(5)]


class _Statements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


def _statements_reading(records) -> tuple[int, list[dict]]:
    handler, peewee_log = _Statements(), logging.getLogger("peewee")
    level = peewee_log.level
    peewee_log.addHandler(handler)
    peewee_log.setLevel(logging.DEBUG)
    try:
        read = list(records())
    finally:
        peewee_log.removeHandler(handler)
        peewee_log.setLevel(level)
    return handler.count, read


def test_r9_4_3_open_data_reads_a_chunk_in_the_same_statements_however_many_leads(app, monkeypatch):
    """The export and /stats read 100,000 proposals: naming each lead must not cost a query per record
    (it did: 100,000 agency look-ups, most of the dashboard's time)."""
    monkeypatch.setattr(open_data, "CHUNK", 1000)
    established_now(title="推動公文線上簽核全面無紙化")
    few, read = _statements_reading(lambda: open_data.proposal_records(with_text=False))
    assert [r["lead_responses"][0]["agency"] for r in read] == ["臺中市政府民政局"]
    for n in range(6):
        established_now(title=f"推動第{n}項改善措施")
    many, read = _statements_reading(lambda: open_data.proposal_records(with_text=False))
    assert len(read) == 7 and all(r["lead_responses"][0]["agency"] == "臺中市政府民政局" for r in read)
    assert many == few


@pytest.mark.parametrize("path", ["/open-data/proposals.json", "/open-data/proposals.csv"])
def test_open_data_conditional_get_answers_304_until_the_data_changes(app, client, path):
    proposal = seconding_proposal()
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('"')
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200

    Second.create(proposal=proposal.id, official=verified_official().id, via="chat")
    Proposal.update(second_count=1).where(Proposal.id == proposal.id).execute()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "1" in changed.get_data(as_text=True)


def test_r10_consultation_open_data_answers_304_until_an_opinion_arrives(app, client):
    now = utcnow()
    consultation = Consultation.create(agency_code="CIVIL", title="里長聯繫窗口制度調整", background="背景說明。",
                                       questions="您的意見？", scope="internal", basis="R10.1.3", stage="execution",
                                       state="open", created_by="staff:1", opens_at=now,
                                       closes_on=taipei_date(now) + dt.timedelta(days=30),
                                       closes_at=now + dt.timedelta(days=30))
    first = client.get("/open-data/consultations.csv")
    etag = first.headers["ETag"]
    assert client.get("/open-data/consultations.csv", headers={"If-None-Match": etag}).status_code == 304
    give_opinion(verified_official(), consultation.id, "建議以區為單位設置單一窗口。")
    changed = client.get("/open-data/consultations.csv", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    [row] = csv.DictReader(io.StringIO(changed.get_data(as_text=True).lstrip("\ufeff")))
    assert row["opinion_count"] == "1"


def test_open_data_page_documents_every_field_and_the_licence(client):
    page = client.get("/open-data").get_data(as_text=True)
    for name in open_data.PROPOSAL_COLUMNS + open_data.CONSULTATION_COLUMNS:
        assert f"<code>{name}</code>" in page
    assert '<a href="https://data.gov.tw/license" rel="license">政府資料開放授權條款－第1版</a>' in page
    text = page_text(client, "/")
    assert "開放資料" in text and "統計儀表板" in text
