"""Issue 11 item 4: agencies and their contact addresses in the console (ops only)."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.agencies import Agency
from models.agency_admin import confirm_contact, contact_token, update_agency
from models.base import DomainError
from models.events import AuditEvent
from tests.fixtures_console import console_post, ensure_agencies
from tests.helpers import forged

NOW = dt.datetime(2026, 3, 2, 2, 0)


@pytest.fixture(autouse=True)
def agencies(app):
    ensure_agencies()


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def edit(client, code, **changes):
    agency = Agency.get(Agency.code == code)
    data = {"agency-name": agency.name, "agency-short_name": agency.short_name, "agency-kind": agency.kind,
            "agency-parent_code": agency.parent_code or "", "agency-contact_email": agency.contact_email or "",
            "agency-active": "y" if agency.active else "", "agency-reason": "更新聯絡窗口"}
    data.update({f"agency-{k}": v for k, v in changes.items()})
    return console_post(client, f"/console/agencies/{code}", data, token_from=f"/console/agencies/{code}")


def test_ops_edit_a_contact_address_and_it_is_recorded(ops_client, ops_staff):
    response = edit(ops_client, "CIVIL", contact_email="civil-desk@taichung.gov.tw")
    assert response.status_code == 302
    assert Agency.get(Agency.code == "CIVIL").contact_email == "civil-desk@taichung.gov.tw"
    event = AuditEvent.get(AuditEvent.action == "agency_updated")
    assert event.actor == ops_staff.actor and event.reason == "更新聯絡窗口" and "civil-desk" in event.detail


def test_bad_edits_change_nothing(ops_client):
    other = Agency.get(Agency.code == "EDU").contact_email
    before = Agency.get(Agency.code == "CIVIL").contact_email
    duplicate = edit(ops_client, "CIVIL", contact_email=other)
    assert duplicate.status_code == 400 and "已是「" in text(duplicate)
    own_parent = edit(ops_client, "CIVIL", parent_code="CIVIL")
    assert own_parent.status_code == 400 and "不能是自己的上級機關" in text(own_parent)
    assert Agency.get(Agency.code == "CIVIL").contact_email == before
    assert not AuditEvent.select().where(AuditEvent.action == "agency_updated").exists()


def test_a_parent_cycle_is_refused(app, ops_staff):
    update_agency(ops_staff, "EDU", {**_fields("EDU"), "parent_code": "CIVIL"}, "測試上下級", NOW)
    with pytest.raises(DomainError) as refused:
        update_agency(ops_staff, "CIVIL", {**_fields("CIVIL"), "parent_code": "EDU"}, "測試上下級", NOW)
    assert refused.value.code == "parent_cycle"


def _fields(code):
    a = Agency.get(Agency.code == code)
    return {"name": a.name, "short_name": a.short_name, "kind": a.kind, "parent_code": a.parent_code or "",
            "contact_email": a.contact_email or "", "active": "1"}


def test_test_email_link_confirms_the_address_and_the_home_flag_clears(app, ops_client, smtp):
    home = text(ops_client.get("/console/"))
    assert 'data-testid="due-agencies_unconfirmed"' in home
    address = Agency.get(Agency.code == "CIVIL").contact_email
    assert console_post(ops_client, "/console/agencies/CIVIL/test-email", token_from="/console/agencies/CIVIL"
                        ).status_code == 302
    page = text(ops_client.get("/console/agencies/CIVIL"))
    assert "已寄出" in page and "尚未確認" in page
    path = re.search(r"http://localhost(/console/agencies/confirm/\S+)", smtp.body(smtp.last_to(address))).group(1)
    confirmed = app.test_client().get(path)  # no console account needed
    assert confirmed.status_code == 200 and address in text(confirmed)
    assert Agency.get(Agency.code == "CIVIL").contact_confirmed
    assert "已確認" in text(ops_client.get("/console/agencies/CIVIL"))
    assert app.test_client().get(forged(path)).status_code == 400
    # A new address is unconfirmed again, and the old link no longer confirms anything.
    edit(ops_client, "CIVIL", contact_email="civil-new@taichung.gov.tw")
    assert not Agency.get(Agency.code == "CIVIL").contact_confirmed
    assert app.test_client().get(path).status_code == 410


def test_confirm_link_expires_after_7_days(app):
    agency = Agency.get(Agency.code == "CIVIL")
    token = contact_token(agency, NOW)
    with pytest.raises(DomainError) as expired:
        confirm_contact(token, NOW + dt.timedelta(days=7))
    assert expired.value.code == "expired_link"
    assert confirm_contact(token, NOW + dt.timedelta(days=6)).contact_confirmed


def test_agency_staff_cannot_reach_agency_pages(agency_client):
    assert agency_client.get("/console/agencies").status_code == 403
    assert agency_client.get("/console/agencies/CIVIL").status_code == 403


# --- CSV import (with a preview) and export -------------------------------------------------------

def upload(client, content: str):
    import io

    from tests.fixtures_console import csrf_token

    token = csrf_token(client, "/console/agencies/import")
    return client.post("/console/agencies/import", data={"csrf_token": token,
                                                         "file": (io.BytesIO(content.encode("utf-8")), "a.csv")},
                       content_type="multipart/form-data")


def test_csv_preview_changes_nothing_then_applies_only_the_good_rows(ops_client, ops_staff):
    exported = ops_client.get("/console/agencies.csv")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    lines = exported.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "code,name,short_name,kind,contact_email,parent_code,active"
    civil = next(line for line in lines if line.startswith("CIVIL,"))
    edited = civil.replace(civil.split(",")[4], "civil-imported@taichung.gov.tw")
    content = "\n".join([lines[0], edited, "NEWONE,臺中市政府新機關,新機關,first_level,new@taichung.gov.tw,,1",
                         "BAD CODE,壞資料,壞,first_level,,,1", "SELF,自己,自,first_level,,SELF,1"]) + "\n"
    preview = upload(ops_client, content)
    page = text(preview)
    assert preview.status_code == 200 and "將新增 1 個、更新 1 個機關" in page
    assert "civil-imported@taichung.gov.tw" in page and "NEWONE" in page
    assert "第 4 行" in page and "第 5 行" in page  # bad rows by line number
    assert Agency.get(Agency.code == "CIVIL").contact_email != "civil-imported@taichung.gov.tw"
    assert not Agency.select().where(Agency.code == "NEWONE").exists()

    csv_text = re.search(r'name="csv_text"[^>]*value="([^"]*)"', preview.get_data(as_text=True)).group(1)
    digest = re.search(r'name="digest"[^>]*value="([^"]*)"', preview.get_data(as_text=True)).group(1)
    tampered = console_post(ops_client, "/console/agencies/import/apply",
                            {"csv_text": html.unescape(csv_text) + "X,X,X,first_level,,,1\n", "digest": digest,
                             "reason": "補上聯絡信箱"}, token_from="/console/agencies/import")
    assert tampered.status_code == 302 and not Agency.select().where(Agency.code == "NEWONE").exists()
    applied = console_post(ops_client, "/console/agencies/import/apply",
                           {"csv_text": html.unescape(csv_text), "digest": digest, "reason": "補上聯絡信箱"},
                           token_from="/console/agencies/import", follow_redirects=True)
    assert "新增 1 個、更新 1 個" in text(applied) and "略過 2 列" in text(applied)
    assert Agency.get(Agency.code == "CIVIL").contact_email == "civil-imported@taichung.gov.tw"
    assert Agency.select().where(Agency.code == "NEWONE").exists()
    event = AuditEvent.get(AuditEvent.action == "agencies_imported")
    assert event.actor == ops_staff.actor and event.reason == "補上聯絡信箱"


def test_a_file_that_is_not_a_csv_is_refused_whole(ops_client):
    page = text(upload(ops_client, "\x00\x01binary"))
    assert "整個檔案無法匯入" in page and "確認匯入" not in page


# --- more than one contact address per agency ------------------------------------------------------

def test_several_contact_addresses_each_tested_confirmed_and_mailed(app, ops_client, smtp):
    from models import agency_confirmation
    from tests.factories import seconding_proposal

    response = edit(ops_client, "CIVIL", extra_contact_emails="civil-desk@taichung.gov.tw\nCivil.Chief@Taichung.gov.tw")
    assert response.status_code == 302
    civil = Agency.get(Agency.code == "CIVIL")
    addresses = ["civil@taichung.gov.tw", "civil-desk@taichung.gov.tw", "Civil.Chief@taichung.gov.tw"]
    assert civil.contact_emails == addresses
    assert "civil-desk" in AuditEvent.get(AuditEvent.action == "agency_updated").detail

    console_post(ops_client, "/console/agencies/CIVIL/test-email", token_from="/console/agencies/CIVIL")
    links = {a: re.search(r"http://localhost(/console/agencies/confirm/\S+)", smtp.body(smtp.last_to(a))).group(1)
             for a in addresses}
    assert len(set(links.values())) == 3  # each link confirms its own address
    for address in addresses[:2]:
        assert address in text(app.test_client().get(links[address]))
    civil = Agency.get(Agency.code == "CIVIL")
    assert civil.confirmed_emails == set(addresses[:2]) and not civil.contact_confirmed
    page = text(ops_client.get("/console/agencies/CIVIL"))
    assert page.count("已寄出") == 3 and "Civil.Chief@taichung.gov.tw：尚未確認" in page
    app.test_client().get(links[addresses[2]])
    assert Agency.get(Agency.code == "CIVIL").contact_confirmed

    smtp.clear()  # a confirmation request (R9.2.5) goes to every address
    proposal = seconding_proposal(agency="CIVIL")
    agency_confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    for address in addresses:
        assert "/agency/answer/" in smtp.body(smtp.last_to(address))


def test_a_duplicate_or_bad_extra_address_changes_nothing(ops_client):
    edu = Agency.get(Agency.code == "EDU").contact_email
    for extras, message in ((edu, "已是「"), ("civil@taichung.gov.tw", "重複填寫"), ("a@x.gov.tw\na@x.gov.tw", "重複填寫"),
                            ("not-an-address", "格式不正確")):
        response = edit(ops_client, "CIVIL", extra_contact_emails=extras)
        assert response.status_code == 400 and message in text(response), extras
    edit(ops_client, "EDU", extra_contact_emails="shared@taichung.gov.tw")
    taken = edit(ops_client, "CIVIL", contact_email="shared@taichung.gov.tw")
    assert taken.status_code == 400 and "已是「" in text(taken)
    assert Agency.get(Agency.code == "CIVIL").contact_emails == ["civil@taichung.gov.tw"]
