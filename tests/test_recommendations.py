"""Recognition through the official's own agency (R11): consent by LINE and email with a reminder,
the team's recommendation (only with consent) emailed to the proposer's agency, the agency's answer,
and annual figures that count withdrawn and returned proposals apart."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.calendar import add_working_days, today_taipei
from models.proposals import return_for_revision, withdraw
from models.recognition import RecognitionConsent
from models.recognition_figures import annual_figures
from models.recommendations import Recommendation
from models.response_publishing import publish_response
from tests.factories import submitted_proposal, verified_official
from tests.fixtures_console import csrf_token_from
from tests.helpers import flashes, forged, register, sweep, taipei, tap
from tests.test_responses import PLAN, REASONS, established

AGENCY_MAILBOX = "civil@taichung.gov.tw"  # 民政局's contact address in data/agencies.csv


@pytest.fixture(autouse=True)
def agencies(db):
    from tests.helpers import load_agencies

    load_agencies()


def consent_link(smtp, address: str) -> str:
    body = smtp.body(smtp.last_to(address))
    found = re.search(r"http://localhost(/recognition/consent/\S+)", body)
    assert found, body
    return found.group(1)


def test_r11_consent_asked_by_email_too_and_answered_through_its_link(app, client, line, smtp, ops_staff):
    proposer = verified_official(following=False, agency_code="CIVIL", nickname="北屯熱心人")  # no LINE: email only
    proposal = established(proposer)
    publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN)
    mail = smtp.last_to(proposer.verified_email)
    assert "是否同意推薦獎勵" in str(mail["Subject"])
    assert "建請您的所屬機關（臺中市政府民政局）辦理專案敘獎、公開表揚及經驗分享" in smtp.body(mail)
    path = consent_link(smtp, proposer.verified_email)

    page = html.unescape(client.get(path).get_data(as_text=True))  # opening the link changes nothing
    assert "未回覆" in page and "臺中市政府民政局" in page
    assert RecognitionConsent.get().answer is None
    response = client.post(path, data={"csrf_token": csrf_token_from(page), "answer": "yes"})
    assert response.status_code == 200 and "您同意由營運小組推薦獎勵" in html.unescape(response.get_data(as_text=True))
    assert RecognitionConsent.get().answer == "yes"

    refused = client.post(forged(path), data={"csrf_token": csrf_token_from(page), "answer": "no"})
    assert refused.status_code == 400 and "連結無效" in html.unescape(refused.get_data(as_text=True))
    assert client.post(path, data={"csrf_token": csrf_token_from(page), "answer": "maybe"}).status_code == 400
    assert RecognitionConsent.get().answer == "yes"


def test_r11_unanswered_consent_reminded_once_after_working_days(app, client, line, smtp, runner, ops_staff):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    answered = verified_official()
    asked_at = taipei(2026, 3, 2, 10)  # a Monday
    for person in (proposer, answered):
        publish_response(established(person).id, ops_staff, "partial", REASONS, PLAN, now=asked_at)
    row = RecognitionConsent.get(RecognitionConsent.official == proposer.id)
    assert row.remind_due == add_working_days(dt.date(2026, 3, 2), 5)
    RecognitionConsent.update(answer="no").where(RecognitionConsent.official == answered.id).execute()
    before = len(line.texts(uid))

    sweep(runner, f"{row.remind_due}T23:00:00")  # not yet: the whole last day is theirs
    assert len(line.texts(uid)) == before
    sweep(runner, f"{row.remind_due + dt.timedelta(days=1)}T09:00:00")
    assert "提醒：您尚未回覆是否同意推薦獎勵" in line.texts(uid)[-1]
    assert [i["action"]["label"] for i in line.last(uid)["quickReply"]["items"]] == ["同意推薦", "不同意"]
    assert "提醒" in str(smtp.last_to("wang@taichung.gov.tw")["Subject"])
    assert not any("提醒" in str(m["Subject"]) for m in smtp.to(answered.verified_email))
    sweep(runner, f"{row.remind_due + dt.timedelta(days=8)}T09:00:00")  # once only
    assert sum("提醒：您尚未回覆" in t for t in line.texts(uid)) == 1
    tap(client, line, uid, "同意推薦")
    assert RecognitionConsent.get_by_id(row.id).answer == "yes"


def recommend_post(client, official_id: int, year: int, data: dict):
    page = client.get(f"/console/recognition/{official_id}?year={year}").get_data(as_text=True)
    return client.post(f"/console/recognition/{official_id}/recommend?year={year}",
                       data={"csrf_token": csrf_token_from(page), **data})


def test_r11_recommendation_without_consent_is_refused_and_changes_nothing(app, smtp, ops_client, ops_staff):
    proposer = verified_official(agency_code="CIVIL", nickname="西屯小幫手", real_name="王真名")
    proposal = established(proposer)
    publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN, now=taipei(2026, 2, 10, 9))
    data = {"recommend-kinds": ["award", "commendation"], "recommend-reason": "提案已全面推行，節省大量紙張與人力。"}
    smtp.clear()
    response = recommend_post(ops_client, proposer.id, 2026, data)
    assert response.status_code == 302
    shown = flashes(ops_client)
    assert "尚未同意推薦" in shown and f"第 {proposal.id} 號" in shown, shown[-3000:]
    RecognitionConsent.update(answer="no").execute()  # a "no" is no consent either
    recommend_post(ops_client, proposer.id, 2026, data)
    assert "尚未同意推薦" in flashes(ops_client)
    nobody = verified_official(agency_code="CIVIL")
    recommend_post(ops_client, nobody.id, 2026, data)
    assert "沒有經同意參採或部分參採的提案" in flashes(ops_client)
    assert Recommendation.select().count() == 0 and not smtp.to(AGENCY_MAILBOX)
    assert not smtp.to(proposer.verified_email)


def test_r11_recommendation_emailed_to_own_agency_and_its_answer_recorded(
        app, line, smtp, ops_client, agency_client, ops_staff):
    proposer = verified_official(agency_code="CIVIL", nickname="西屯小幫手", real_name="王真名", unit="戶政科")
    adopted = established(proposer, title="公文線上簽核全面無紙化")
    publish_response(adopted.id, ops_staff, "adopt", REASONS, PLAN, now=taipei(2026, 2, 10, 9))
    RecognitionConsent.update(answer="yes").execute()
    gone = submitted_proposal(proposer, title="後來撤回的提案內容", now=taipei(2026, 3, 1, 9))
    withdraw(proposer, gone.id, now=taipei(2026, 3, 2, 9))

    assert recommend_post(ops_client, proposer.id, 2026, {"recommend-kinds": [], "recommend-reason": "說明"}
                          ).status_code == 400
    assert recommend_post(ops_client, proposer.id, 2026, {"recommend-kinds": ["award", "trip"],
                                                          "recommend-reason": "提案已全面推行，節省大量紙張。"}
                          ).status_code == 302
    assert "至少選擇一項" in flashes(ops_client) and Recommendation.select().count() == 0
    assert agency_client.get(f"/console/recognition/{proposer.id}?year=2026").status_code == 403
    assert agency_client.post(f"/console/recognition/{proposer.id}/recommend?year=2026").status_code in (400, 403)

    response = recommend_post(ops_client, proposer.id, 2026, {"recommend-kinds": ["award", "sharing"],
                                                              "recommend-reason": "提案已全面推行，節省大量紙張與人力。"})
    assert response.status_code == 302 and "已將 2026 年的建議（專案敘獎、經驗分享）寄給臺中市政府民政局" in flashes(ops_client)
    letter = smtp.last_to(AGENCY_MAILBOX)
    body = smtp.body(letter)
    assert "專案敘獎、經驗分享" in str(letter["Subject"]) and "王真名" in body and "西屯小幫手" in body
    assert "服務單位：臺中市政府民政局（戶政科）" in body  # the letter names the unit (issue 9 item 11)
    assert f"提案第 {adopted.id} 號「公文線上簽核全面無紙化」：同意參採" in body
    assert "提出 1 件（另撤回 1 件、退回未再送出 0 件）" in body and "節省大量紙張與人力" in body
    assert "建請您的所屬機關（臺中市政府民政局）辦理：專案敘獎、經驗分享" in line.texts(proposer.line_user_id)[-1]
    row = Recommendation.get()
    assert (row.agency_code, row.kinds, row.sent_to, row.answer) == ("CIVIL", "award,sharing", AGENCY_MAILBOX, None)
    assert row.figure_values["withdrawn"] == 1 and row.figure_values["consented_proposals"] == [adopted.id]
    recommend_post(ops_client, proposer.id, 2026, {"recommend-kinds": ["award"], "recommend-reason": "再寄一次的說明文字。"})
    assert "不能重複建請" in flashes(ops_client) and Recommendation.select().count() == 1

    def answer(data):
        page = ops_client.get(f"/console/recognition/{proposer.id}?year=2026").get_data(as_text=True)
        return ops_client.post(f"/console/recognition/answers/{row.id}",
                               data={"csrf_token": csrf_token_from(page), **{f"answer{row.id}-{k}": v
                                                                             for k, v in data.items()}})

    tomorrow = today_taipei() + dt.timedelta(days=1)
    assert answer({"answer": "done", "answered_on": tomorrow.isoformat()}).status_code == 302
    assert "回覆日期須在建議寄出日" in flashes(ops_client) and Recommendation.get().answer is None
    assert answer({"answer": "maybe", "answered_on": today_taipei().isoformat()}).status_code == 400
    assert answer({"answer": "done", "answered_on": today_taipei().isoformat(), "note": "已核予嘉獎一次"}
                  ).status_code == 302
    recorded = Recommendation.get()
    assert (recorded.answer, recorded.answered_on, recorded.answer_note) == ("done", today_taipei(), "已核予嘉獎一次")
    answer({"answer": "declined", "answered_on": today_taipei().isoformat()})
    assert "不能再次記錄" in flashes(ops_client) and Recommendation.get().answer == "done"
    page = html.unescape(ops_client.get("/console/recognition?year=2026").get_data(as_text=True))
    assert "專案敘獎、經驗分享（已辦理）" in page and "王真名" not in page


def test_r11_annual_figures_count_withdrawn_and_returned_apart(app):
    person = verified_official(nickname="西屯小幫手")
    submitted_proposal(person, title="仍在檢核中的提案", now=taipei(2026, 4, 1, 9))
    gone = submitted_proposal(person, title="提案人撤回的提案", now=taipei(2026, 4, 2, 9))
    withdraw(person, gone.id, now=taipei(2026, 4, 3, 9))
    back = submitted_proposal(person, title="退回後未再送出的提案", now=taipei(2026, 4, 6, 9))
    return_for_revision(back.id, "staff:test", "請補充具體做法與預期效益。", now=taipei(2026, 4, 7, 9))
    (mine,) = annual_figures(2026)
    assert (mine.submitted, mine.withdrawn, mine.returned) == (1, 1, 1)
