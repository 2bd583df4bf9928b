"""Policy consultations (R5.2, R10): console, LINE opinions, public pages, open data, the sweep's clocks."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest

from models import calendar, consultation_deadlines, deadlines, opinions
from models import consultation_review as review
from models import consultation_summaries as summaries
from models import consultations as domain
from models.base import DomainError, end_of_day_utc, taipei_date, utcnow
from models.consultations import APPROVED, CLOSED, DRAFT, OPEN, SUMMARISED, Consultation, Opinion
from models.events import AuditEvent
from models.outbox import Outbox
from models.staff import Staff, create_staff
from tests.factories import verified_official
from tests.fixtures_console import (
    AGENCY_EMAIL,
    AGENCY_PASSWORD,
    browser_login,
    console_login,
    csrf_token_from,
)
from tests.helpers import flashes, flex_texts, load_agencies, page_text, quick_replies, register, sweep, taipei, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


FIELDS = {
    "agency_code": "CIVIL", "title": "里長聯繫窗口制度調整", "scope": "internal", "basis": "R10.1.3",
    "stage": "execution", "background": "本局擬調整各區公所里長聯繫窗口的分工方式，以減少重複聯繫與公文往返。",
    "questions": "一、現行窗口分工有哪些困難？\n二、您建議如何調整？",
}


def reviewed(staff, row: Consultation, now: dt.datetime | None = None) -> Consultation:
    """Submitted by its agency and passed by the operations team (R8: only then may it open)."""
    review.submit_for_review(staff, row.id, now=now)
    team = Staff.get_or_none(Staff.email == "review-ops@taichung.gov.tw") or create_staff(
        "review-ops@taichung.gov.tw", "ops", "review-ops-password-1")
    return review.pass_consultation_review(team, row.id, now=now)


def consultation(staff, *, opened: dt.datetime | None = None, closes_on: dt.date | None = None,
                 **fields) -> Consultation:
    """A consultation reviewed and opened at `opened` (default now) until `closes_on` (default 30 days later)."""
    opened = opened or utcnow()
    closes_on = closes_on or taipei_date(opened) + dt.timedelta(days=30)
    row = domain.create_consultation(staff, {**FIELDS, **fields}, closes_on, now=opened)
    reviewed(staff, row, opened)
    return domain.open_consultation(staff, row.id, closes_on, now=opened)


def fresh(row) -> Consultation:
    return Consultation.get_by_id(row.id)


def form_page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def version_on(page: str, prefix: str) -> str:
    found = re.search(rf'name="{prefix}-version"[^>]*value="(\d+)"', page) or re.search(
        rf'value="(\d+)"[^>]*name="{prefix}-version"', page)
    assert found, f"no {prefix} form on the page"
    return found.group(1)


def console_act(client, consultation_id: int, action: str, data: dict):
    """POST one detail-page form as a person would: token and version from the page they saw."""
    page = form_page(client, f"/console/consultations/{consultation_id}")
    payload = {"csrf_token": csrf_token_from(page), f"{action}-version": version_on(page, action)}
    payload.update({f"{action}-{k}": v for k, v in data.items()})
    return client.post(f"/console/consultations/{consultation_id}/{action}", data=payload)


def create_in_console(client, **overrides):
    page = form_page(client, "/console/consultations/new")
    data = {f"c-{k}": v for k, v in {**FIELDS, **overrides}.items()}
    data.setdefault("c-closes_on", (calendar.today_taipei() + dt.timedelta(days=20)).isoformat())
    data["csrf_token"] = csrf_token_from(page)
    return client.post("/console/consultations/new", data=data)


# --- R5.2: an agency consults at a stage of a policy ---------------------------------------------

def test_r5_2_agency_staff_create_and_open_for_their_own_agency(app, client, agency_client, agency_staff, ops_client):
    response = create_in_console(agency_client, stage="forming")
    assert response.status_code == 302
    row = Consultation.get()
    assert (row.state, row.agency_code, row.stage, row.created_by) == (DRAFT, "CIVIL", "forming", agency_staff.actor)
    assert client.get(f"/consultations/{row.id}").status_code == 404  # a draft is not public
    assert console_act(agency_client, row.id, "submit", {}).status_code == 302  # R8: reviewed before it opens
    assert console_act(ops_client, row.id, "pass", {}).status_code == 302
    assert client.get(f"/consultations/{row.id}").status_code == 404  # nor is an approved one before it opens
    closes = calendar.today_taipei() + dt.timedelta(days=10)
    assert console_act(agency_client, row.id, "open", {"closes_on": closes.isoformat()}).status_code == 302
    assert "已開放徵詢" in flashes(agency_client)
    row = fresh(row)
    assert row.state == OPEN and row.closes_on == closes and row.closes_at == end_of_day_utc(closes)
    public = page_text(client, f"/consultations/{row.id}")
    assert "政策形成" in public and "臺中市政府民政局" in public and "徵詢中" in public
    # another agency's code is not theirs to choose
    assert create_in_console(agency_client, agency_code="EDU").status_code == 400
    with pytest.raises(DomainError):
        domain.create_consultation(agency_staff, {**FIELDS, "agency_code": "EDU"}, closes)
    assert Consultation.select().count() == 1


def test_r5_2_agency_staff_see_only_their_agency_and_ops_see_all(app, agency_client, ops_staff, ops_client):
    create_staff("edu.wang@taichung.gov.tw", "agency", "edu-long-password-1", agency_code="EDU")
    mine = consultation(ops_staff, title="民政局的諮詢")
    theirs = consultation(ops_staff, title="教育局的諮詢", agency_code="EDU")
    listing = page_text(agency_client, "/console/consultations")
    assert "民政局的諮詢" in listing and "教育局的諮詢" not in listing
    assert agency_client.get(f"/console/consultations/{theirs.id}").status_code == 403
    assert agency_client.get(f"/console/consultations/{mine.id}").status_code == 200
    ops_listing = page_text(ops_client, "/console/consultations")
    assert "民政局的諮詢" in ops_listing and "教育局的諮詢" in ops_listing


def test_r5_2_stage_must_be_forming_execution_or_evaluation(app, agency_staff):
    for stage in ("forming", "execution", "evaluation"):
        assert consultation(agency_staff, stage=stage).stage_label in ("政策形成", "政策執行", "政策評估")
    with pytest.raises(DomainError) as refused:
        consultation(agency_staff, stage="someday")
    assert refused.value.code == "bad_stage"


# --- R10.1.1–R10.1.3: the basis is recorded and shown ---------------------------------------------

def _basis_recorded_and_shown(client, agency_staff, basis: str, clause: str):
    row = consultation(agency_staff, basis=basis)
    assert fresh(row).basis == basis
    public = page_text(client, f"/consultations/{row.id}")
    assert clause in public and domain.BASES[basis] in public
    records = client.get("/open-data/consultations.json").get_json()["consultations"]
    assert [r["basis"] for r in records if r["id"] == row.id] == [basis]
    with pytest.raises(DomainError):
        consultation(agency_staff, basis="R10.9")


def test_r10_1_1_rights_and_duties_policy_basis_recorded_and_shown(app, client, agency_staff):
    _basis_recorded_and_shown(client, agency_staff, "R10.1.1", "第十點（一）1")


def test_r10_1_2_major_policy_of_public_or_councillor_concern_basis_recorded_and_shown(app, client, agency_staff):
    _basis_recorded_and_shown(client, agency_staff, "R10.1.2", "第十點（一）2")


def test_r10_1_3_policy_carried_out_or_planned_basis_recorded_and_shown(app, client, agency_staff):
    _basis_recorded_and_shown(client, agency_staff, "R10.1.3", "第十點（一）3")


# --- R10.1.4: at most 2 months, never moved -----------------------------------------------------

@pytest.mark.parametrize("opened, latest", [
    ("2026-01-31", "2026-03-31"),  # the example: 2 months later, same date
    ("2025-12-31", "2026-02-28"),  # no 31 February: the month's last day
    ("2023-12-31", "2024-02-29"),  # leap year
    ("2026-08-31", "2026-10-31"),
])
def test_r10_1_4_length_at_most_two_months(app, agency_staff, opened, latest):
    now = taipei(f"{opened}T10:00:00")
    too_long = day(latest) + dt.timedelta(days=1)
    draft = domain.create_consultation(agency_staff, FIELDS, too_long, now=now)
    reviewed(agency_staff, draft, now)
    with pytest.raises(DomainError) as refused:
        domain.open_consultation(agency_staff, draft.id, now=now)
    assert refused.value.code == "too_long" and latest in refused.value.message and "以 2 個月為限" in refused.value.message
    assert fresh(draft).state == APPROVED
    opened_row = domain.open_consultation(agency_staff, draft.id, day(latest), now=now)
    assert (opened_row.state, opened_row.closes_on) == (OPEN, day(latest))
    assert opened_row.closes_at == end_of_day_utc(day(latest))


def test_r10_1_4_last_day_is_never_moved_by_the_calendar(app, agency_staff):
    row = consultation(agency_staff, closes_on=calendar.today_taipei() + dt.timedelta(days=5))
    deadlines.add_override(row.closes_on, calendar.KIND_CLOSED, "颱風停班", by="staff:test")
    assert fresh(row).closes_on == row.closes_on  # a participation window (R2.3)
    assert fresh(row).closes_at == end_of_day_utc(row.closes_on)


def test_r10_1_4_last_day_must_be_after_the_open_day(app, agency_staff):
    draft = domain.create_consultation(agency_staff, FIELDS, calendar.today_taipei() + dt.timedelta(days=3))
    reviewed(agency_staff, draft)
    with pytest.raises(DomainError) as refused:
        domain.open_consultation(agency_staff, draft.id, calendar.today_taipei())
    assert refused.value.code == "closes_too_soon"


def test_r10_1_4_console_refuses_a_longer_consultation(app, agency_client, agency_staff):
    create_in_console(agency_client)
    row = Consultation.get()
    reviewed(agency_staff, row)
    latest = calendar.due_date("R10.1.4", calendar.today_taipei())
    console_act(agency_client, row.id, "open", {"closes_on": (latest + dt.timedelta(days=1)).isoformat()})
    assert "以 2 個月為限" in flashes(agency_client)
    assert fresh(row).state == APPROVED
    console_act(agency_client, row.id, "open", {"closes_on": latest.isoformat()})
    assert fresh(row).state == OPEN and fresh(row).closes_on == latest


# --- opinions from LINE ----------------------------------------------------------------------------

def test_r5_2_opinion_from_line_confirmed_then_counted(app, client, line, smtp, agency_staff):
    row = consultation(agency_staff, title="里長聯繫窗口制度調整")
    uid, me = register(client, line, smtp, email="lee@taichung.gov.tw")
    line.text(client, uid, "政策諮詢")
    carousel = [msg for msg in line.messages(uid) if msg.get("type") == "flex"][-1]["contents"]["contents"]
    texts = flex_texts(carousel[0])
    assert carousel[0]["header"]["contents"][0]["text"] == "里長聯繫窗口制度調整"
    assert "臺中市政府民政局" in texts and "0 則意見" in texts and any(t.startswith("剩 30 天") for t in texts)
    tap(client, line, uid, "查看全文")
    detail = flex_texts(line.last(uid))
    assert FIELDS["background"] in detail and FIELDS["questions"] in detail
    assert f"http://localhost/consultations/{row.id}" in json.dumps(line.last(uid))
    tap(client, line, uid, "提供意見")
    assert "請輸入您對「里長聯繫窗口制度調整」的意見" in line.texts(uid)[-1]
    # too long: a clear answer with the limit, nothing saved, still waiting for the opinion
    line.text(client, uid, "意" * 5000)
    assert f"最多 {domain.OPINION_MAX} 個字，您輸入了 5000 個字" in line.texts(uid)[-1]
    assert Opinion.select().count() == 0
    line.text(client, uid, "建議每區指定單一窗口，")
    assert "請確認您的意見" in line.texts(uid)[-1] and "西屯小幫手" in line.texts(uid)[-1]
    assert Opinion.select().count() == 0  # nothing saved before the confirmation
    # a long opinion sent as two chat messages stays one opinion; the first part is not lost
    line.text(client, uid, "並建立共用的聯繫紀錄表。")
    assert "已把您剛才的訊息併入同一則意見" in line.texts(uid)[-1]
    tap(client, line, uid, "送出並通知我結果")
    assert "感謝您的意見" in line.texts(uid)[-1] and "目前共有 1 則意見" in line.texts(uid)[-1]
    opinion = Opinion.get()
    assert (opinion.official_id, opinion.notify, opinion.text) == (me.id, True, "建議每區指定單一窗口，\n並建立共用的聯繫紀錄表。")
    # the confirmation tapped again saves nothing
    confirm = [a for msg in reversed(line.messages(uid)) for a in quick_replies(msg) if a.get("label") == "送出意見"][0]
    line.postback(client, uid, confirm["data"])
    assert "已處理" in line.texts(uid)[-1] and Opinion.select().count() == 1
    # several opinions are fine
    tap(client, line, uid, "再提供意見")
    line.text(client, uid, "另建議每季檢討一次窗口名單。")
    tap(client, line, uid, "送出意見")
    assert "目前共有 2 則意見，其中 2 則是您提出的" in line.texts(uid)[-1]
    assert AuditEvent.select().where(AuditEvent.action == "opinion_given").count() == 2


def test_r5_2_unverified_official_cannot_give_an_opinion(app, client, line, smtp, agency_staff):
    row = consultation(agency_staff)
    uid, me = register(client, line, smtp, email="new@taichung.gov.tw", verify=False)
    line.text(client, uid, "諮詢")  # reading is public
    tap(client, line, uid, "提供意見")
    assert "請先完成身分認證" in line.texts(uid)[-1]
    line.postback(client, uid, f"a=con.send&c={row.id}&t=x&notify=0")
    assert "請先完成身分認證" in line.texts(uid)[-1]
    with pytest.raises(DomainError) as refused:
        opinions.give_opinion(me, row.id, "我想表達意見。")
    assert refused.value.code == "not_verified"
    assert Opinion.select().count() == 0


def test_r10_1_4_no_opinion_and_no_edit_after_the_last_day(app, client, line, smtp, agency_staff):
    opened = taipei("2026-03-09T09:00:00")
    row = consultation(agency_staff, opened=opened, closes_on=day("2026-03-23"))
    official = verified_official()
    opinion = opinions.give_opinion(official, row.id, "第一版意見。", now=taipei("2026-03-23T23:59:00"))
    opinions.edit_opinion(official, opinion.id, "修改後的意見。", now=taipei("2026-03-23T23:59:30"))
    after = taipei("2026-03-24T00:00:01")  # the sweep has not run yet: still refused
    with pytest.raises(DomainError) as refused:
        opinions.give_opinion(official, row.id, "太晚的意見。", now=after)
    assert refused.value.code == "ended"
    with pytest.raises(DomainError):
        opinions.edit_opinion(official, opinion.id, "結束後修改。", now=after)
    assert Opinion.get_by_id(opinion.id).text == "修改後的意見。"
    assert json.loads(AuditEvent.get(AuditEvent.action == "opinion_edited").detail)["previous"] == "第一版意見。"


def test_r5_2_opinion_edited_from_line_while_open(app, client, line, smtp, agency_staff):
    row = consultation(agency_staff)
    uid, me = register(client, line, smtp, email="chen@taichung.gov.tw")
    opinions.give_opinion(me, row.id, "原本的意見內容。")
    line.postback(client, uid, f"a=con.mine&c={row.id}")
    assert "原本的意見內容。" in line.texts(uid)[-1]
    tap(client, line, uid, "修改第1則")
    line.text(client, uid, "修改後的意見內容。")
    tap(client, line, uid, "儲存修改")
    assert "已修改您的意見" in line.texts(uid)[-1]
    assert Opinion.get().text == "修改後的意見內容。" and Opinion.get().edited_at is not None


# --- R3.0 / R4: opinions public under display names only ----------------------------------------

def test_r3_0_opinions_shown_publicly_under_display_names_only(app, client, agency_staff, agency_client):
    row = consultation(agency_staff)
    nick = verified_official(nickname="北屯熱心人", real_name="張秘密", phone="0922-111-333",
                             email="zhang.secret@taichung.gov.tw", address="臺中市北屯區崇德路一段1號")
    real = verified_official(real_name="林公開", nickname="不會出現的暱稱", display_choice="real",
                             email="lin.open@taichung.gov.tw", phone="04-2228-9111")
    opinions.give_opinion(nick, row.id, "支持調整，並建議提供線上表單。")
    opinions.give_opinion(real, row.id, "請保留緊急聯絡的電話窗口。")
    public = page_text(client, f"/consultations/{row.id}")
    console = page_text(agency_client, f"/console/consultations/{row.id}")
    data = client.get("/open-data/consultations.json").get_data(as_text=True) + client.get(
        "/open-data/consultations.csv").get_data(as_text=True)
    for shown in (public, console):
        assert "北屯熱心人" in shown and "林公開" in shown and "支持調整" in shown
    for page in (public, console, data):
        for secret in ("張秘密", "不會出現的暱稱", "zhang.secret", "lin.open", "0922-111-333", "04-2228-9111",
                       "崇德路", nick.line_user_id):
            assert secret not in page
    assert '"opinion_count": 2' in data


# --- R7 on opinions ------------------------------------------------------------------------------

def test_r7_3_ops_hide_an_abusive_opinion_with_ground_and_reason(app, client, smtp, agency_staff, agency_client,
                                                                ops_staff, ops_client):
    row = consultation(agency_staff)
    author = verified_official(nickname="情緒化的人")
    abusive = opinions.give_opinion(author, row.id, "某某科長根本是笨蛋，什麼都不懂。")
    kept = opinions.give_opinion(verified_official(), row.id, "建議增加說明會場次。")
    # R8: the consulting agency cannot moderate its own consultation's opinions
    agency_page = form_page(agency_client, f"/console/consultations/{row.id}")
    assert 'data-testid="hide-form"' not in agency_page
    refused = {"csrf_token": csrf_token_from(agency_page), f"hide{abusive.id}-ground": "R7.3",
               f"hide{abusive.id}-reason": "人身攻擊同仁"}
    assert agency_client.post(f"/console/consultations/{row.id}/opinions/{abusive.id}/hide", data=refused).status_code == 403
    with pytest.raises(DomainError):
        opinions.hide_opinion(agency_staff, abusive.id, "R7.3", "人身攻擊同仁")
    assert Opinion.get_by_id(abusive.id).hidden_at is None

    page = form_page(ops_client, f"/console/consultations/{row.id}")
    data = {"csrf_token": csrf_token_from(page), f"hide{abusive.id}-ground": "R7.3", f"hide{abusive.id}-reason": "人身攻擊同仁"}
    assert ops_client.post(f"/console/consultations/{row.id}/opinions/{abusive.id}/hide", data=data).status_code == 302
    hidden = Opinion.get_by_id(abusive.id)
    assert (hidden.hidden_ground, hidden.hidden_reason, hidden.hidden_by) == ("R7.3", "人身攻擊同仁", ops_staff.actor)
    event = AuditEvent.get(AuditEvent.action == "opinion_hidden")
    assert event.actor == ops_staff.actor and event.reason == "R7.3 人身攻擊同仁"
    public = page_text(client, f"/consultations/{row.id}")
    assert "笨蛋" not in public and "情緒化的人" not in public and "已依第七點隱藏（R7.3" in public
    assert "建議增加說明會場次" in public and "公務人員意見（1 則）" in public
    assert "已被隱藏" in str(smtp.last_to(author.verified_email)["Subject"])
    assert Opinion.get_by_id(kept.id).hidden_at is None
    # a reason is required, and twice is refused
    with pytest.raises(DomainError):
        opinions.hide_opinion(ops_staff, kept.id, "R7.3", "")
    with pytest.raises(DomainError) as twice:
        opinions.hide_opinion(ops_staff, abusive.id, "R7.1", "再隱藏一次")
    assert twice.value.code == "already_hidden"


# --- R10.2: the summary clock -------------------------------------------------------------------

@pytest.mark.parametrize("closed, due", [
    ("2026-06-01", "2026-06-15"),  # a working Monday: not moved
    ("2026-03-23", "2026-04-07"),  # 04-06 is a holiday (民族掃墓節補假)
    ("2026-09-12", "2026-09-29"),  # Saturday 09-26, then 09-28 孔子誕辰紀念日
    ("2026-02-02", "2026-02-23"),  # Lunar New Year 02-16..02-20, then the weekend
])
def test_r10_2_summary_due_14_days_after_closing_moved_to_a_working_day(app, runner, agency_staff, closed, due):
    opened = taipei(f"{day(closed) - dt.timedelta(days=14)}T09:00:00")
    row = consultation(agency_staff, opened=opened, closes_on=day(closed))
    sweep(runner, taipei(f"{closed}T23:59:00"))
    assert fresh(row).state == OPEN  # not before the end of the last day
    sweep(runner, taipei(f"{day(closed) + dt.timedelta(days=1)}T00:00:30"))
    row = fresh(row)
    assert row.state == CLOSED and row.summary_due == day(due)
    assert calendar.is_working_day(row.summary_due)


def test_r10_2_sweep_closes_at_the_end_of_the_last_day_not_before(app, client, line, smtp, runner, agency_staff):
    row = consultation(agency_staff, opened=taipei("2026-03-09T09:00:00"), closes_on=day("2026-03-23"))
    told = verified_official(nickname="想知道結果")
    quiet = verified_official(nickname="不用通知")
    opinions.give_opinion(told, row.id, "請通知我結果。", notify=True, now=taipei("2026-03-10T10:00:00"))
    opinions.give_opinion(quiet, row.id, "不用通知我。", now=taipei("2026-03-10T11:00:00"))
    assert sweep(runner, taipei("2026-03-23T23:59:59"))["consultations_close"] == 0
    assert fresh(row).state == OPEN
    assert sweep(runner, taipei("2026-03-24T00:00:01"))["consultations_close"] == 1
    row = fresh(row)
    assert row.state == CLOSED and row.closed_at == end_of_day_utc(day("2026-03-23"))
    assert row.summary_due == day("2026-04-07")
    agency_mail = smtp.last_to("civil@taichung.gov.tw")
    assert "2026-04-07" in str(agency_mail["Subject"]) and "共收到 2 則意見" in smtp.body(agency_mail)
    assert any("已於" in t and "結束" in t for t in line.texts(told.line_user_id))
    assert not line.texts(quiet.line_user_id) and not smtp.to(quiet.verified_email)
    rows = Outbox.select().count()
    assert sweep(runner, taipei("2026-03-24T00:05:00"))["consultations_close"] == 0
    assert Outbox.select().count() == rows
    public = page_text(client, f"/consultations/{row.id}")
    assert "已結束" in public and "2026-04-07" in public


def test_r10_2_extension_once_before_expiry_at_most_14_days_with_published_reason(app, client, agency_client,
                                                                                   agency_staff):
    closes = calendar.today_taipei() + dt.timedelta(days=1)
    row = consultation(agency_staff, closes_on=closes)
    consultation_deadlines.close_due(end_of_day_utc(closes) + dt.timedelta(seconds=1))
    row = fresh(row)
    original = row.summary_due
    assert console_act(agency_client, row.id, "extend", {"reason": "意見數量多，需與相關局處協調"}).status_code == 302
    row = fresh(row)
    assert row.summary_extended_due == calendar.extension_due("R10.2", original)
    assert row.summary_extended_due <= calendar.next_working_day_on_or_after(original + dt.timedelta(days=14))
    assert row.extension_reason == "意見數量多，需與相關局處協調"
    public = page_text(client, f"/consultations/{row.id}")
    assert "意見數量多，需與相關局處協調" in public and f"延長至 {row.summary_extended_due}" in public
    record = [r for r in client.get("/open-data/consultations.json").get_json()["consultations"] if r["id"] == row.id][0]
    assert record["summary_extended_due"] == row.summary_extended_due.isoformat()
    assert record["extension_reason"] == "意見數量多，需與相關局處協調"
    # once only
    with pytest.raises(DomainError) as twice:
        summaries.extend_summary(agency_staff, row.id, "再延一次")
    assert twice.value.code == "extended_once"
    # a reason is required
    other = consultation(agency_staff, closes_on=closes)
    consultation_deadlines.close_due(end_of_day_utc(closes) + dt.timedelta(seconds=1))
    with pytest.raises(DomainError):
        summaries.extend_summary(agency_staff, other.id, "")


def test_r10_2_extension_refused_after_expiry(app, runner, agency_staff):
    row = consultation(agency_staff, opened=taipei("2026-03-09T09:00:00"), closes_on=day("2026-03-23"))
    sweep(runner, taipei("2026-03-24T00:00:01"))
    with pytest.raises(DomainError) as late:
        summaries.extend_summary(agency_staff, row.id, "來不及了", now=taipei("2026-04-08T00:00:01"))
    assert late.value.code == "expired"
    extended = summaries.extend_summary(agency_staff, row.id, "仍在期限內", now=taipei("2026-04-07T23:59:00"))
    assert extended.summary_extended_due == day("2026-04-21")


def test_r10_2_overdue_reminder_once_by_the_sweep(app, smtp, runner, agency_staff):
    row = consultation(agency_staff, opened=taipei("2026-03-09T09:00:00"), closes_on=day("2026-03-23"))
    sweep(runner, taipei("2026-03-24T00:00:01"))
    assert sweep(runner, taipei("2026-04-07T23:59:00"))["consultation_summary_reminders"] == 0
    assert sweep(runner, taipei("2026-04-08T00:00:30"))["consultation_summary_reminders"] == 1
    assert "逾期" in str(smtp.last_to("civil@taichung.gov.tw")["Subject"])
    assert "2026-04-07" in smtp.body(smtp.last_to("rdec-platform@taichung.gov.tw"))
    mails = len(smtp.messages)
    assert sweep(runner, taipei("2026-04-09T09:00:00"))["consultation_summary_reminders"] == 0
    assert len(smtp.messages) == mails and fresh(row).summary_reminded_at == taipei("2026-04-08T00:00:30")


def test_r10_2_extended_summary_is_reminded_only_after_the_extension(app, runner, agency_staff):
    row = consultation(agency_staff, opened=taipei("2026-03-09T09:00:00"), closes_on=day("2026-03-23"))
    sweep(runner, taipei("2026-03-24T00:00:01"))
    summaries.extend_summary(agency_staff, row.id, "需再協調", now=taipei("2026-04-01T10:00:00"))
    assert sweep(runner, taipei("2026-04-08T09:00:00"))["consultation_summary_reminders"] == 0
    assert sweep(runner, taipei("2026-04-22T09:00:00"))["consultation_summary_reminders"] == 1


def test_r10_2_summary_published_and_participants_who_opted_in_are_told(app, client, line, smtp, agency_client,
                                                                       agency_staff):
    closes = calendar.today_taipei() + dt.timedelta(days=1)
    row = consultation(agency_staff, closes_on=closes)
    told = verified_official(nickname="想知道結果")
    quiet = verified_official(nickname="不用通知")
    opinions.give_opinion(told, row.id, "請通知我結果。", notify=True)
    opinions.give_opinion(quiet, row.id, "不用通知我。")
    # still open: no summary yet
    assert console_act(agency_client, row.id, "close", {"reason": "政策方向已確定，提前結束"}).status_code == 302
    row = fresh(row)
    assert row.state == CLOSED and row.summary_due == calendar.due_date("R10.2", calendar.today_taipei())
    summary = "感謝同仁意見。本局將於各區指定單一窗口，並建立共用聯繫紀錄表，自下月起試辦。"
    assert console_act(agency_client, row.id, "summary", {"summary": summary}).status_code == 302
    row = fresh(row)
    assert row.state == SUMMARISED and row.summary == summary and not row.summary_late
    public = page_text(client, f"/consultations/{row.id}")
    assert summary in public and "政策方向已確定，提前結束" in public and "已綜整回應" in public
    assert "綜整回應已公布" in str(smtp.last_to(told.verified_email)["Subject"])
    assert any(summary in t for t in line.texts(told.line_user_id))
    assert not smtp.to(quiet.verified_email) and not line.texts(quiet.line_user_id)
    with pytest.raises(DomainError):
        summaries.publish_summary(agency_staff, row.id, "第二次公布的內容不應被接受。")


def test_r10_2_calendar_closure_moves_a_summary_due_not_yet_expired(app, agency_staff):
    today = calendar.today_taipei()
    row = consultation(agency_staff, closes_on=today + dt.timedelta(days=1))
    consultation_deadlines.close_due(end_of_day_utc(today + dt.timedelta(days=1)) + dt.timedelta(seconds=1))
    due = fresh(row).summary_due
    deadlines.add_override(due, calendar.KIND_CLOSED, "颱風停止上班", by="staff:test")
    moved = fresh(row).summary_due
    assert moved > due and calendar.is_working_day(moved)
    deadlines.clear_override(due, by="staff:test")
    assert fresh(row).summary_due == due


# --- public pages and open data ------------------------------------------------------------------

def test_r10_open_data_json_and_csv_without_personal_data(app, client, agency_staff):
    row = consultation(agency_staff, title="=HYPERLINK(\"http://evil\")試辦計畫")
    opinions.give_opinion(verified_official(), row.id, "意見一則。")
    consultation(agency_staff, title="另一個諮詢")
    domain.create_consultation(agency_staff, {**FIELDS, "title": "尚未開放的草稿"}, calendar.today_taipei() + dt.timedelta(days=9))
    records = client.get("/open-data/consultations.json").get_json()["consultations"]
    assert [r["title"] for r in records] == ["=HYPERLINK(\"http://evil\")試辦計畫", "另一個諮詢"]
    first = records[0]
    assert first["agency"] == "臺中市政府民政局" and first["scope"] == "internal" and first["stage"] == "execution"
    assert first["state"] == "open" and first["opinion_count"] == 1 and first["closes_on"] == row.closes_on.isoformat()
    assert set(first) >= {"id", "title", "agency", "scope", "basis", "stage", "state", "opens_at", "closes_on",
                          "summary_due", "summary_extended_due", "extension_reason", "summary_published_at",
                          "opinion_count"}
    body = client.get("/open-data/consultations.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows[0]["title"].startswith("'=") and rows[0]["opinion_count"] == "1"
    listing = page_text(client, "/consultations")
    assert "另一個諮詢" in listing and "尚未開放的草稿" not in listing


# --- the browser -----------------------------------------------------------------------------------

def test_r10_1_4_console_creates_and_opens_a_consultation_in_chromium(app, page, live_server, agency_staff):
    browser_login(page, live_server, AGENCY_EMAIL, AGENCY_PASSWORD)
    page.goto(f"{live_server.url}/console/consultations")
    page.click("[data-testid=new-consultation]")
    page.fill("input[name=c-title]", "瀏覽器建立的政策諮詢")
    page.fill("textarea[name=c-background]", "這是在瀏覽器中建立的政策諮詢背景說明。")
    page.fill("textarea[name=c-questions]", "您對這項政策有什麼建議？")
    page.check("input[name=c-scope][value=rights]")
    page.check("input[name=c-basis][value='R10.1.1']")
    page.check("input[name=c-stage][value=evaluation]")
    closes = calendar.today_taipei() + dt.timedelta(days=14)
    page.fill("input[name=c-closes_on]", closes.isoformat())
    with page.expect_navigation():
        page.click("[data-testid=consultation-form] [type=submit]")
    assert "已建立草稿" in page.inner_text(".flashes")
    assert page.inner_text("[data-testid=consultation-state]") == "草稿"
    with page.expect_navigation():
        page.click("[data-testid=submit-form] [type=submit]")
    assert "已送交營運小組審核" in page.inner_text(".flashes")
    assert page.inner_text("[data-testid=consultation-state]") == "營運小組審核中"
    draft = Consultation.get(Consultation.title == "瀏覽器建立的政策諮詢")
    review.pass_consultation_review(create_staff("review-ops@taichung.gov.tw", "ops", "review-ops-password-1"), draft.id)
    page.reload()
    page.fill("input[name=open-closes_on]", closes.isoformat())
    with page.expect_navigation():
        page.click("[data-testid=open-form] [type=submit]")
    assert "已開放徵詢" in page.inner_text(".flashes")
    assert page.inner_text("[data-testid=consultation-state]") == "徵詢中"
    row = Consultation.get(Consultation.title == "瀏覽器建立的政策諮詢")
    assert (row.state, row.agency_code, row.basis, row.stage, row.closes_on) == (OPEN, "CIVIL", "R10.1.1", "evaluation", closes)
    page.goto(f"{live_server.url}/consultations/{row.id}")
    assert "瀏覽器建立的政策諮詢" in page.inner_text("h1")


def test_r8_console_needs_login(app, client):
    assert client.get("/console/consultations").status_code == 302
    assert client.get("/console/consultations/new").status_code == 302


def test_r10_console_login_redirects_back(app, client, agency_staff):
    response = console_login(client, agency_staff.email, agency_staff.password, next="/console/consultations")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/consultations")
