"""Terms of use and privacy notice (R4): shown at registration, accepted once with the version recorded;
officials registered earlier accept at their next proposal, second or opinion, then continue."""
from __future__ import annotations

import pytest

from models import settings
from models.base import DomainError
from models.consultations import Opinion
from models.events import AuditEvent
from models.officials import Official
from models.opinions import give_opinion
from models.proposals import DRAFT, Proposal
from tests.factories import seconding_proposal, verified_official
from tests.helpers import load_agencies, page_text, quick_replies, tap
from tests.test_consultations import consultation
from tests.test_review import act


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _labels(message: dict) -> list[str]:
    return [q["label"] for q in quick_replies(message)]


def test_r4_registration_shows_the_terms_and_privacy_notice_and_records_the_version(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    tap(client, line, uid, "開始註冊")
    shown = line.last(uid)
    for expected in ("使用條款與個人資料告知", "政府資料開放授權條款", "開放資料", "註明出處",  # what the city may do
                     "只用於身分認證、聯繫與平臺營運",  # purpose
                     "電話、電子郵件與地址不公開、不提供機關",  # who sees what
                     f"聊天原文保存 {settings.RETENTION_DAYS['chat_text']} 日",  # retention
                     "查看、更正資料或關閉帳號", settings.OPS_NOTIFY_EMAIL,  # rights
                     "http://localhost/terms"):
        assert expected in shown["text"], expected
    assert "第四點" not in shown["text"] and "第七點" not in shown["text"]  # chat prompts carry no clause numbers
    assert _labels(shown) == ["同意並繼續", "完整條款", "不同意"]
    assert Official.get(Official.line_user_id == uid).terms_version is None

    tap(client, line, uid, "同意並繼續")
    official = Official.get(Official.line_user_id == uid)
    assert official.terms_version == settings.TERMS_VERSION and official.terms_accepted_at is not None
    event = AuditEvent.get(AuditEvent.action == "terms_accepted")
    assert event.subject_id == official.id and settings.TERMS_VERSION in event.detail
    assert "真實姓名" in line.texts(uid)[-1]  # registration goes on
    tap(client, line, uid, "開始註冊")  # accepted once: not shown again
    assert "使用條款" not in line.texts(uid)[-1]
    assert AuditEvent.select().where(AuditEvent.action == "terms_accepted").count() == 1


def test_r4_declining_the_terms_starts_nothing(client, line):
    uid = line.user()
    line.follow(client, uid)
    tap(client, line, uid, "開始註冊")
    tap(client, line, uid, "不同意")
    assert "未同意使用條款前，無法註冊" in line.texts(uid)[-1]
    official = Official.get(Official.line_user_id == uid)
    assert official.terms_version is None and official.real_name is None


def test_r4_an_old_version_of_the_terms_is_not_recorded(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.postback(client, uid, "a=terms.accept&v=2018-07")
    assert "使用條款已更新" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).terms_version is None


def test_r4_an_earlier_official_accepts_at_the_next_proposal_and_continues(client, line):
    official = verified_official(terms_version=None, terms_accepted_at=None)
    uid = line.user(official.line_user_id)
    line.text(client, uid, "提出提案")
    assert "使用條款與個人資料告知" in line.texts(uid)[-1]
    assert not Proposal.select().where(Proposal.proposer == official).exists()  # nothing started yet
    tap(client, line, uid, "同意並繼續")
    assert Official.get_by_id(official.id).terms_version == settings.TERMS_VERSION
    assert Proposal.get(Proposal.proposer == official).state == DRAFT  # the proposal goes on
    assert any("已記錄您同意使用條款" in text for text in line.texts(uid)[-3:])


def test_r4_r9_3_4_an_earlier_official_accepts_at_the_next_second_and_continues(client, line):
    proposal = seconding_proposal()
    official = verified_official(terms_version=None, terms_accepted_at=None)
    uid = line.user(official.line_user_id)
    line.postback(client, uid, f"a=sec.ask&p={proposal.id}")
    assert "使用條款與個人資料告知" in line.texts(uid)[-1]
    tap(client, line, uid, "同意並繼續")
    assert Official.get_by_id(official.id).terms_version == settings.TERMS_VERSION
    assert line.last(uid)["altText"] == f"確認附議{proposal.number}"  # back where the official was


def test_r4_r5_2_an_earlier_official_accepts_at_the_next_opinion_and_continues(client, line, agency_staff):
    row = consultation(agency_staff)
    official = verified_official(terms_version=None, terms_accepted_at=None)
    with pytest.raises(DomainError) as refused:  # the domain guard, whatever the edge
        give_opinion(official, row.id, "建議每區指定單一窗口，減少重複聯繫。")
    assert refused.value.code == "terms_needed" and Opinion.select().count() == 0
    uid = line.user(official.line_user_id)
    line.postback(client, uid, f"a=con.opine&c={row.id}")
    assert "使用條款與個人資料告知" in line.texts(uid)[-1]
    tap(client, line, uid, "同意並繼續")
    assert "請輸入您對「里長聯繫窗口制度調整」的意見" in line.texts(uid)[-1]


def test_r4_the_terms_page_is_public_and_names_the_license_sources_and_rights(client):
    text = page_text(client, "/terms")
    for expected in ("政府資料開放授權條款", "註明出處", "第七點第2款", "個人資料保護法", "保存期間",
                     f"通知收件地址 {settings.RETENTION_DAYS['notice_recipient']} 日", settings.TERMS_VERSION):
        assert expected in text, expected
    assert "使用條款與個人資料告知" in page_text(client, "/")  # linked from every public page


def test_r4_r7_2_a_rights_holders_complaint_is_a_removal_on_ground_r7_2(ops_client, line, smtp):
    """The terms tell rights holders to write to the team; the team removes on R7.2 with the complaint as reason."""
    official = verified_official()
    proposal = seconding_proposal(official)
    reason = "權利人來信申訴：提案內容整段轉載其受著作權保護之研究報告，未註明出處。"
    assert act(ops_client, proposal.id, "remove", {"ground": "R7.2", "reason": reason}).status_code == 302
    removed = Proposal.get_by_id(proposal.id)
    assert (removed.state, removed.removal_ground, removed.removal_reason) == ("removed", "R7.2", reason)
    body = smtp.body(smtp.last_to(official.verified_email))
    assert "第七點第2款（侵害他人權利或法律上利益）" in body and reason in body
