"""Recognition (R11): consent asked in LINE after adoption, and the per-proposer annual figures for the team."""
from __future__ import annotations

import csv
import datetime as dt
import html
import io

import pytest

from models.proposals import CoProposer, Proposal, remove
from models.recognition import RecognitionConsent
from models.recognition_figures import annual_figures
from models.response_publishing import publish_response
from tests.factories import submitted_proposal, verified_official
from tests.helpers import load_agencies, quick_replies, register, tap
from tests.test_responses import PLAN, REASONS, established, taipei


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_r11_consent_asked_in_line_after_adoption_and_stored(app, client, line, smtp, ops_staff):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = established(proposer)
    publish_response(proposal.id, ops_staff, "partial", REASONS, PLAN)
    ask = line.last(uid)
    # The consent text says exactly what agreeing means: the own agency, the three kinds, what is sent.
    assert "部分參採" in ask["text"] and "建請您的所屬機關（臺中市政府研究發展考核委員會）" in ask["text"]
    assert "專案敘獎、公開表揚及經驗分享" in ask["text"] and "您的姓名、顯示名稱、參採的提案及年度提案數據" in ask["text"]
    assert [a["label"] for a in quick_replies(ask)] == ["同意推薦", "不同意"]
    row = RecognitionConsent.get(RecognitionConsent.proposal == proposal.id)
    assert row.official_id == proposer.id and row.answer is None

    tap(client, line, uid, "同意推薦")
    assert "您同意由營運小組推薦獎勵" in line.texts(uid)[-1]
    assert RecognitionConsent.get_by_id(row.id).answer == "yes"
    tap(client, line, uid, "改為不同意")  # a later answer replaces the earlier one
    assert RecognitionConsent.get_by_id(row.id).answer == "no"
    assert [f.consent_label for f in annual_figures(taipei_year())] == ["不同意"]

    stranger_uid, _ = register(client, line, smtp, email="lee@taichung.gov.tw", nickname="路人甲")
    line.postback(client, stranger_uid, f"a=rec.consent&p={proposal.id}&v=yes")
    assert "沒有請您表示" in line.texts(stranger_uid)[-1]
    assert RecognitionConsent.select().count() == 1


def taipei_year() -> int:
    from models.calendar import today_taipei

    return today_taipei().year


def test_r11_no_consent_asked_after_rejection(app, client, line, smtp, ops_staff):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = established(proposer)
    publish_response(proposal.id, ops_staff, "reject", REASONS)
    assert RecognitionConsent.select().count() == 0
    assert not any("推薦" in text for text in line.texts(uid))
    assert "不予採納" in line.texts(uid)[-1]


def test_r11_group_proposal_asks_every_confirmed_co_proposer(app, ops_staff):
    proposer, co, invited = verified_official(), verified_official(), verified_official()
    proposal = established(proposer)
    CoProposer.create(proposal=proposal.id, official=co.id, confirmed_at=taipei(2025, 12, 1, 9))
    CoProposer.create(proposal=proposal.id, official=invited.id)  # never confirmed: not a proposer
    publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN)
    asked = {r.official_id for r in RecognitionConsent.select()}
    assert asked == {proposer.id, co.id}


def _at(proposal: Proposal, **instants) -> None:
    Proposal.update(**instants).where(Proposal.id == proposal.id).execute()


def test_r11_annual_figures_per_proposer(app, ops_staff):
    busy = verified_official(nickname="西屯小幫手", agency_code="CIVIL")
    other = verified_official(nickname="北屯熱心人", agency_code="EDU")
    co = verified_official(nickname="共同提案人甲", agency_code="RDEC")

    adopted = established(busy, notified=taipei(2026, 1, 5, 9), title="二〇二六年同意參採的提案")
    _at(adopted, first_submitted_at=taipei(2025, 11, 20, 9), seconding_started_at=taipei(2025, 11, 25, 9),
        established_at=taipei(2026, 1, 4, 9))
    CoProposer.create(proposal=adopted.id, official=co.id, confirmed_at=taipei(2025, 11, 19, 9))
    publish_response(adopted.id, ops_staff, "adopt", REASONS, PLAN, now=taipei(2026, 2, 10, 9))
    RecognitionConsent.update(answer="yes").where((RecognitionConsent.proposal == adopted.id)
                                                  & (RecognitionConsent.official == busy.id)).execute()
    submitted_proposal(busy, title="新年第一分鐘送出的提案", now=taipei(2026, 1, 1, 0, 1))
    submitted_proposal(busy, title="除夕最後一分鐘送出的提案", now=taipei(2025, 12, 31, 23, 59))
    gone = submitted_proposal(busy, title="被移除的提案內容", now=taipei(2026, 3, 1, 9))
    remove(gone.id, "staff:test", "R7.5", "違反善良風俗。", now=taipei(2026, 3, 2, 9))

    partly = established(other, notified=taipei(2026, 6, 1, 9), title="二〇二六年部分參採的提案")
    _at(partly, first_submitted_at=taipei(2026, 4, 1, 9), seconding_started_at=taipei(2026, 4, 3, 9),
        established_at=taipei(2026, 5, 31, 9))
    publish_response(partly.id, ops_staff, "partial", REASONS, PLAN, now=taipei(2026, 7, 1, 9))

    figures = {row.display_name: row for row in annual_figures(2026)}
    assert set(figures) == {"西屯小幫手", "北屯熱心人", "共同提案人甲"}
    mine = figures["西屯小幫手"]
    # Counted in 2026: the New Year submission, the establishment and the adoption; not 2025's steps, not the removed one.
    assert (mine.submitted, mine.passed_review, mine.established, mine.adopted, mine.partly_adopted) == (1, 0, 1, 1, 0)
    assert mine.agency == "臺中市政府民政局" and mine.adopted_proposals == [adopted.id]
    assert mine.consent_label == "同意推薦" and mine.eligible
    theirs = figures["北屯熱心人"]
    assert (theirs.submitted, theirs.passed_review, theirs.established, theirs.partly_adopted) == (1, 1, 1, 1)
    assert theirs.consent_label == "未回覆" and not theirs.eligible
    assert figures["共同提案人甲"].adopted == 1 and figures["共同提案人甲"].consent_label == "未回覆"

    last_year = {row.display_name: row for row in annual_figures(2025)}
    assert (last_year["西屯小幫手"].submitted, last_year["西屯小幫手"].passed_review) == (2, 1)
    assert last_year["西屯小幫手"].adopted == 0 and last_year["西屯小幫手"].consent_label == "—"


def test_r11_console_figures_for_ops_only_with_csv(app, ops_client, agency_client, ops_staff):
    proposer = verified_official(nickname="=西屯小幫手", real_name="王真名", agency_code="CIVIL")
    proposal = established(proposer, notified=taipei(2026, 1, 5, 9))
    publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN, now=taipei(2026, 2, 10, 9))
    RecognitionConsent.update(answer="yes").execute()

    page = html.unescape(ops_client.get("/console/recognition?year=2026").get_data(as_text=True))
    table = page.split('data-testid="recognition"')[1]
    assert "=西屯小幫手" in table and "同意推薦" in table and "可簽報" in table and "臺中市政府民政局" in table
    assert "王真名" not in page and proposer.verified_email not in page
    assert agency_client.get("/console/recognition").status_code == 403
    assert agency_client.get("/console/recognition.csv").status_code == 403

    response = ops_client.get("/console/recognition.csv?year=2026")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["顯示名稱", "服務機關", "提案數"]
    assert rows[1][0] == "'=西屯小幫手"  # a formula is neutralised
    assert rows[1][7:] == ["1", "0", "同意推薦", str(proposal.id), "是", ""]
    assert "王真名" not in text and proposer.verified_email not in text
    empty = html.unescape(ops_client.get(f"/console/recognition?year={dt.date.today().year - 3}").get_data(as_text=True))
    assert "尚無提案紀錄" in empty
