"""Talking with those who gave opinions (R10.2): messages by LINE with email as the fallback, no
personal data to the agency, discussion meetings whose summary is published."""
from __future__ import annotations

import datetime as dt
import html

import pytest

from models import consultations as domain
from models import opinions
from models.base import utcnow
from models.calendar import today_taipei
from models.consultation_discussion import DiscussionMeeting, DiscussionMessage
from models.outbox import Outbox
from models.staff import create_staff
from tests.factories import verified_official
from tests.fixtures_console import console_post, csrf_token_from
from tests.helpers import flashes, load_agencies, logged_in, page_text
from tests.test_consultations import consultation, form_page


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def closed_with_opinions(agency_staff, line):
    """A closed consultation with opinions from: a LINE user, one without LINE, a hidden one, and
    one author of two opinions. Returns (consultation, people by role, opinions by role)."""
    row = consultation(agency_staff, opened=utcnow() - dt.timedelta(days=2))
    people = {
        "line": verified_official(line_user_id=line.user(), nickname="西屯小幫手"),
        "mail_only": verified_official(following=False, nickname="北屯熱心人"),
        "hidden": verified_official(line_user_id=line.user(), nickname="不當發言者"),
        "twice": verified_official(line_user_id=line.user(), nickname="南屯常客"),
    }
    given = {role: opinions.give_opinion(person, row.id, f"{person.nickname}的意見：建議簡化窗口分工。")
             for role, person in people.items()}
    given["twice_again"] = opinions.give_opinion(people["twice"], row.id, "補充：請保留週末聯絡方式。")
    ops = create_staff("mod-ops@taichung.gov.tw", "ops", "mod-ops-password-1")
    opinions.hide_opinion(ops, given["hidden"].id, "R7.5", "內容含人身攻擊，依規定隱藏。")
    domain.close_early(agency_staff, row.id, "意見已足夠，提前結束。")
    return domain.Consultation.get_by_id(row.id), people, given


def reached(line, smtp, person, phrase: str) -> bool:
    """Whether the person got a LINE message or an email containing `phrase`."""
    return (any(phrase in text for text in line.texts(person.line_user_id))
            or any(phrase in smtp.body(m) for m in smtp.to(person.verified_email)))


def post_form(client, consultation_id: int, path: str, data: dict):
    page = form_page(client, f"/console/consultations/{consultation_id}")
    return client.post(f"/console/consultations/{consultation_id}/{path}",
                       data={"csrf_token": csrf_token_from(page), **data})


def test_r10_2_agency_writes_to_everyone_who_gave_opinions_line_first_email_fallback(
        app, client, line, smtp, agency_client, agency_staff):
    row, people, given = closed_with_opinions(agency_staff, line)
    page = page_text(agency_client, f"/console/consultations/{row.id}")
    # The agency chooses by opinion number and display name; no address or LINE id reaches it (R4).
    assert f"意見第 {given['line'].id} 號（西屯小幫手）" in page
    assert f'value="{given["hidden"].id}"' not in page.split('data-testid="message-form"')[1].split("</form>")[0]
    for person in people.values():
        assert person.verified_email not in page and person.line_user_id not in page

    response = post_form(agency_client, row.id, "message",
                         {"message-recipient": "all", "message-body": "感謝各位的意見，想請教窗口分工的實際困難。"})
    assert response.status_code == 302
    assert "訊息已送出給全體意見提供者（3 位；LINE 2、電子郵件 1）" in flashes(agency_client)
    for role in ("line", "twice"):
        texts = line.texts(people[role].line_user_id)
        assert len(texts) == 1 and "想請教窗口分工的實際困難" in texts[0] and "臺中市政府民政局" in texts[0]
        assert not smtp.to(people[role].verified_email)  # LINE reached them: no second copy by email
    mail = smtp.last_to(people["mail_only"].verified_email)
    assert "想請教窗口分工的實際困難" in smtp.body(mail)
    assert f"{people['mail_only'].real_name} 您好" in smtp.body(mail)  # the real name: their own address
    assert not reached(line, smtp, people["hidden"], "想請教")  # a hidden opinion's author is not written to
    message = DiscussionMessage.get()
    assert (message.recipients, message.by_line, message.by_mail, message.opinion_id) == (3, 2, 1, None)
    after = page_text(agency_client, f"/console/consultations/{row.id}")
    assert "全體意見提供者（3 位：LINE 2、電子郵件 1）" in after and "傳送訊息給意見提供者" in after
    for person in people.values():
        assert person.verified_email not in after and person.line_user_id not in after


def test_r10_2_one_opinion_author_and_email_when_line_fails(app, line, smtp, agency_client, agency_staff):
    row, people, given = closed_with_opinions(agency_staff, line)
    line.fail(1, 500)  # the push fails: the same message goes by email instead, once
    response = post_form(agency_client, row.id, "message",
                         {"message-recipient": str(given["line"].id), "message-body": "您提到的窗口分工，可否提供實例？"})
    assert response.status_code == 302
    assert not line.texts(people["line"].line_user_id)
    body = smtp.body(smtp.last_to(people["line"].verified_email))
    assert f"意見第 {given['line'].id} 號" in body and "可否提供實例" in body
    push = Outbox.get(Outbox.dedupe_key.contains(":message:") & (Outbox.channel == "line"))
    assert push.status == "rerouted"  # not "failed": nobody needs to chase it
    for role in ("mail_only", "twice"):  # only that opinion's author
        assert not reached(line, smtp, people[role], "可否提供實例")
    assert DiscussionMessage.get().opinion_id == given["line"].id


def test_r10_2_bad_recipient_or_too_early_changes_nothing(app, line, smtp, agency_client, agency_staff):
    open_row = consultation(agency_staff)
    author = verified_official(line_user_id=line.user())
    opinions.give_opinion(author, open_row.id, "徵詢中的意見。")
    response = post_form(agency_client, open_row.id, "meetings", {
        "meeting-held_on": today_taipei().isoformat(), "meeting-place": "市政大樓", "meeting-how_to_join": "現場出席"})
    assert response.status_code == 302 and "徵詢結束後進行" in flashes(agency_client)
    response = post_form(agency_client, open_row.id, "message", {"message-recipient": "all", "message-body": "太早的訊息"})
    assert response.status_code == 302 and "徵詢結束後進行" in flashes(agency_client)

    row, people, given = closed_with_opinions(agency_staff, line)
    for choice in (str(given["hidden"].id), "999999", "x1", "-3"):
        post_form(agency_client, row.id, "message", {"message-recipient": choice, "message-body": "給一位同仁的訊息"})
        assert "找不到這則意見" in flashes(agency_client)
    other = consultation(agency_staff, title="另一個諮詢主題")
    elsewhere = opinions.give_opinion(author, other.id, "另一個諮詢的意見。")
    post_form(agency_client, row.id, "message", {"message-recipient": str(elsewhere.id), "message-body": "錯置的訊息"})
    assert "找不到這則意見" in flashes(agency_client)
    assert post_form(agency_client, row.id, "message", {"message-recipient": "all", "message-body": ""}).status_code == 400
    assert DiscussionMessage.select().count() == 0 and Outbox.select().where(
        Outbox.dedupe_key.contains(":message:")).count() == 0

    stranger = create_staff("edu.wu@taichung.gov.tw", "agency", "edu-agency-password-1", agency_code="EDU")
    stranger.password = "edu-agency-password-1"
    other_client = logged_in(app, stranger.email, stranger.password)
    response = console_post(other_client, f"/console/consultations/{row.id}/message",
                            {"message-recipient": "all", "message-body": "別的機關的訊息"})
    assert response.status_code == 403 and DiscussionMessage.select().count() == 0


def test_r10_2_discussion_meeting_invited_then_summary_published(app, client, line, smtp, agency_client, agency_staff):
    row, people, given = closed_with_opinions(agency_staff, line)
    today = today_taipei()
    yesterday = today - dt.timedelta(days=1)
    response = post_form(agency_client, row.id, "meetings", {"meeting-held_on": yesterday.isoformat(),
                                                             "meeting-place": "14:00 市政大樓 501 會議室",
                                                             "meeting-how_to_join": "現場出席"})
    assert response.status_code == 302 and "不能早於今天" in flashes(agency_client)
    for day in (today, today + dt.timedelta(days=7)):
        response = post_form(agency_client, row.id, "meetings", {
            "meeting-held_on": day.isoformat(), "meeting-place": "14:00 臺灣大道市政大樓惠中樓 501 會議室",
            "meeting-how_to_join": "現場出席，或以視訊連結 https://meet.example.gov.tw/abc 參加"})
        assert response.status_code == 302
    assert "邀請 3 位意見提供者" in flashes(agency_client)
    invitation = line.texts(people["line"].line_user_id)[-1]
    assert "溝通討論會議" in invitation and "惠中樓 501" in invitation and "meet.example.gov.tw" in invitation
    assert "溝通討論會議" in smtp.body(smtp.last_to(people["mail_only"].verified_email))
    assert not reached(line, smtp, people["hidden"], "溝通討論會議")
    held, later = list(DiscussionMeeting.select().order_by(DiscussionMeeting.held_on))

    response = post_form(agency_client, row.id, f"meetings/{later.id}/summary",
                         {f"dsummary{later.id}-summary": "會議尚未召開，不應可以填寫摘要。"})
    assert response.status_code == 302 and "召開後才能填寫" in flashes(agency_client)
    response = post_form(agency_client, row.id, f"meetings/{held.id}/summary", {f"dsummary{held.id}-summary": "短"})
    assert response.status_code == 400
    response = post_form(agency_client, row.id, f"meetings/{held.id}/summary",
                         {f"dsummary{held.id}-summary": "與會同仁建議窗口分工改以區為單位，本局將納入綜整回應。"})
    assert response.status_code == 302 and "已儲存會議紀錄摘要" in flashes(agency_client)

    public = html.unescape(client.get(f"/consultations/{row.id}").get_data(as_text=True))
    section = public.split('data-testid="discussion-meetings"')[1].split("</section>")[0]
    assert f"{today}" in section and "改以區為單位" in section and "（預定召開）" in section
    assert "惠中樓" not in public and "meet.example.gov.tw" not in public  # place and link go to the invited only
    assert DiscussionMeeting.get_by_id(later.id).summary is None
