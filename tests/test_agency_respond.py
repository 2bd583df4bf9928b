"""Issue 11 item 6: the agency's lightweight response page by the signed link in its notices."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.agencies import Agency
from models.base import DomainError, taipei_date, utcnow
from models.calendar import due_date
from models.events import AuditEvent
from models.proposals import ESTABLISHED, Proposal
from models.response_links import open_link, response_link
from models.responses import response_of
from models.seconds import send_establishment_notices
from tests.factories import submitted_proposal, verified_official
from tests.fixtures_console import ensure_agencies
from tests.helpers import forged

REASONS = "本局評估後同意參採，將於明年度起全面推動線上簽核，並提供教育訓練與系統支援。"


@pytest.fixture(autouse=True)
def agencies(app):
    ensure_agencies()


def established_today(title="推動公文線上簽核全面無紙化"):
    proposal = submitted_proposal(verified_official(), title=title, agency="CIVIL")
    now = utcnow()
    Proposal.update(state=ESTABLISHED, second_count=200, established_at=now - dt.timedelta(days=1),
                    notice_due=taipei_date(now)).where(Proposal.id == proposal.id).execute()
    return proposal, now


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def csrf_token(client, path: str) -> str:
    """The token of the page's forms (they carry a prefix: publish-csrf_token)."""
    page = client.get(path).get_data(as_text=True)
    return html.unescape(re.search(r'name="[a-z]+-csrf_token" type="hidden" value="([^"]+)"', page).group(1))


def path_of(link: str) -> str:
    return link.replace("http://localhost", "")


def test_the_establishment_notice_carries_a_link_where_the_agency_publishes_its_response(app, client, smtp):
    proposal, now = established_today()
    assert send_establishment_notices(now) == 1
    address = Agency.get(Agency.code == "CIVIL").contact_email
    link = re.search(r"http://localhost(/agency/respond/\S+)", smtp.body(smtp.last_to(address))).group(1)
    page = client.get(link)
    assert page.status_code == 200 and "公開回應" in text(page) and address in text(page)

    token = csrf_token(client, link)
    published = client.post(f"{link}/publish", data={"csrf_token": token, "publish-decision": "adopt",
                                                     "publish-reasons": REASONS, "publish-plan": "明年一月起分階段推動。"})
    assert published.status_code == 302
    response = response_of(proposal.id)
    assert response is not None and response.responded_by == f"link:CIVIL:{address}"
    assert AuditEvent.get(AuditEvent.action == "response_published").actor == f"link:CIVIL:{address}"
    after = text(client.get(link))
    assert "已公開的回應" in after and REASONS in after and 'data-testid="publish-form"' not in after


def test_extension_and_meeting_follow_the_console_rules(app, client):
    proposal, now = established_today()
    send_establishment_notices(now)
    link = path_of(response_link(proposal.id, "CIVIL", "civil@taichung.gov.tw"))
    short = client.post(f"{link}/extend", data={"csrf_token": csrf_token(client, link), "extend-reason": "短"})
    assert short.status_code == 400  # the console's minimum length for a published reason
    done = client.post(f"{link}/extend", data={"csrf_token": csrf_token(client, link),
                                               "extend-reason": "需跨局處協調預算與人力，評估期程較長，申請延長一個月。"})
    assert done.status_code == 302 and Proposal.get_by_id(proposal.id).response_extended_due is not None
    again = client.post(f"{link}/extend", data={"csrf_token": csrf_token(client, link),
                                                "extend-reason": "再次申請延長，以完成跨局處之協調作業。"})
    assert again.status_code in (200, 400) and "extend-form" not in text(client.get(link))
    meeting = client.post(f"{link}/meeting", data={
        "csrf_token": csrf_token(client, link), "meeting-held_on": f"{taipei_date(now) + dt.timedelta(days=3)}",
        "meeting-place": "市政大樓 10 樓會議室 14:00", "meeting-participants": "提案人、民政局、研考會"})
    assert meeting.status_code == 302 and "市政大樓 10 樓會議室" in text(client.get(link))


def test_a_forwarded_or_forged_link_changes_nothing(app, client):
    proposal, now = established_today()
    send_establishment_notices(now)
    other_agency = path_of(response_link(proposal.id, "EDU", "edu@taichung.gov.tw"))
    refused_page = client.get(other_agency)  # EDU never held it: its link opens nothing (R9.1.3)
    assert refused_page.status_code == 410 and "貴機關已不是本提案的權責機關" in text(refused_page)
    good = path_of(response_link(proposal.id, "CIVIL", "civil@taichung.gov.tw"))
    # A valid form token (from the agency's own page in this session) does not make EDU's link a lead's.
    refused = client.post(f"{other_agency}/publish", data={"csrf_token": csrf_token(client, good),
                                                            "publish-decision": "reject", "publish-reasons": REASONS})
    assert refused.status_code == 410 and response_of(proposal.id) is None
    assert client.get(forged(good)).status_code == 400
    assert client.get("/agency/respond/not-a-token").status_code == 400


def test_the_link_expires_with_the_response_deadline_including_the_extension(app):
    proposal, now = established_today()
    send_establishment_notices(now)
    fresh = Proposal.get_by_id(proposal.id)
    token = response_link(proposal.id, "CIVIL", "civil@taichung.gov.tw").rsplit("/", 1)[1]
    last_day = dt.datetime.combine(fresh.response_due, dt.time(15, 59))  # 23:59 in Taipei
    assert open_link(token, last_day)[0].id == proposal.id
    with pytest.raises(DomainError) as expired:
        open_link(token, last_day + dt.timedelta(minutes=2))
    assert expired.value.code == "expired_link"
    extended = due_date("R9.4.4", fresh.response_due)
    Proposal.update(response_extended_due=extended).where(Proposal.id == proposal.id).execute()
    assert open_link(token, last_day + dt.timedelta(minutes=2))[0].id == proposal.id
