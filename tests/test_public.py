"""Public pages and open data: progress, agencies, dates, and no personal data (R3.0, R4, R7)."""
from __future__ import annotations

import csv
import io

import pytest

from models.proposals import remove
from tests.factories import seconding_proposal, submitted_proposal, verified_official
from tests.helpers import load_agencies


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_r4_public_pages_show_display_name_and_no_personal_data(client):
    official = verified_official(nickname="創新小組", real_name="陳真名", phone="0933-111-222",
                                 email="chen.secret@taichung.gov.tw", address="臺中市北區三民路一段1號")
    proposal = seconding_proposal(official, title="推動<script>alert(1)</script>彈性上班")
    pages = [client.get("/").get_data(as_text=True), client.get(f"/proposals/{proposal.id}").get_data(as_text=True),
             client.get("/open-data/proposals.json").get_data(as_text=True),
             client.get("/open-data/proposals.csv").get_data(as_text=True)]
    for page in pages:
        for secret in ("陳真名", "0933-111-222", "chen.secret", "三民路一段1號"):
            assert secret not in page
    for html_page in pages[:2]:
        assert "<script>alert(1)</script>" not in html_page
    assert "創新小組" in pages[1]
    assert "&lt;script&gt;" in pages[1]


def test_r9_3_1_public_page_shows_seconding_progress(client):
    proposal = seconding_proposal()
    page = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "0 / 200 份有效附議" in page
    assert "附議中" in page and "臺中市政府研究發展考核委員會" in page


def test_r9_2_1_unpublished_proposals_are_not_public(client):
    proposal = submitted_proposal()
    assert client.get(f"/proposals/{proposal.id}").status_code == 404
    assert client.get("/open-data/proposals.json").json["proposals"] == []


def test_r7_1_removed_proposal_shows_only_removal_and_ground(client):
    proposal = seconding_proposal(title="某某長官是騙子應該下台")
    remove(proposal.id, "staff:1", "R7.1", "內容涉及誹謗特定人士")
    page = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "此提案已移除" in page and "第七點第1款（恐嚇、猥褻、誹謗" in page
    assert "騙子" not in page and "誹謗特定人士" not in page
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert record["state"] == "removed" and record["removal_ground"] == "R7.1" and record["title"] is None


def test_r9_3_2_open_data_has_dates_and_counts(client):
    proposal = seconding_proposal()
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert record["id"] == proposal.id
    assert record["state"] == "seconding"
    assert record["lead_agencies"] == ["臺中市政府研究發展考核委員會"]
    assert record["seconding_end"] == proposal.seconding_ends.isoformat()
    assert record["valid_seconds"] == 0 and record["seconds_needed"] == 200
    rows = list(csv.DictReader(io.StringIO(client.get("/open-data/proposals.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0]["id"] == str(proposal.id) and rows[0]["seconding_end"] == record["seconding_end"]


def test_r9_3_2_open_data_csv_neutralises_formulas(client):
    seconding_proposal(title="=HYPERLINK(\"http://x\")公文")
    text = client.get("/open-data/proposals.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text
