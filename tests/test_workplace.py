"""Where an official works (R2.1, R3.1, R11): the listed agency and the unit as written."""
from __future__ import annotations

import pytest

from models.base import db
from models.events import AuditEvent
from models.officials import Official
from tests.factories import verified_official
from tests.helpers import load_agencies, page_text, quick_replies, register, start_registration, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _to_agency_step(client, line) -> str:
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    for answer in ("王小明", "小明"):
        line.text(client, uid, answer)
    tap(client, line, uid, "以暱稱顯示")
    for answer in ("0912345678", "wang@taichung.gov.tw", "臺中市西屯區臺灣大道三段99號"):
        line.text(client, uid, answer)
    assert "所屬機關" in line.texts(uid)[-1] and "學校請選教育局" in line.texts(uid)[-1]
    return uid


def _labels(message: dict) -> list[str]:
    return [q["label"] for q in quick_replies(message)]


def test_r2_1_a_school_search_explains_the_education_bureau_and_offers_the_school_as_unit(client, line, smtp):
    uid = _to_agency_step(client, line)
    line.text(client, uid, "豐原國中")
    answer = line.last(uid)
    assert "學校屬於教育局" in answer["text"] and "「豐原國中」請在下一步填寫為所屬單位" in answer["text"]
    assert _labels(answer) == ["教育局", "取消"]
    tap(client, line, uid, "教育局")
    question = line.last(uid)
    assert "服務的單位" in question["text"] and "臺中市政府教育局" in question["text"]
    assert _labels(question)[0] == "豐原國中"
    tap(client, line, uid, "豐原國中")
    summary = line.texts(uid)[-1]
    assert "所屬機關：臺中市政府教育局" in summary and "所屬單位：豐原國中" in summary
    official = Official.get(Official.line_user_id == uid)
    assert (official.agency_code, official.unit) == ("EDU", "豐原國中")
    assert official.workplace_label() == "臺中市政府教育局（豐原國中）"


def test_r2_1_a_district_office_unit_points_to_the_district_office_itself(client, line, smtp):
    uid = _to_agency_step(client, line)
    line.text(client, uid, "西屯區公所民政課")
    answer = line.last(uid)
    assert "區公所是獨立的機關" in answer["text"] and _labels(answer) == ["西屯區公所", "取消"]
    tap(client, line, uid, "西屯區公所")
    assert _labels(line.last(uid))[0] == "民政課"
    line.text(client, uid, "民政課")
    official = Official.get(Official.line_user_id == uid)
    assert (official.agency_code, official.unit) == ("D-XITUN", "民政課")


@pytest.mark.parametrize("typed, expected", [
    ("某科", "看起來是單位名稱"),
    ("火星探測總署", "學校請選教育局，區公所的課室請選該區公所"),
])
def test_r2_1_an_unknown_unit_explains_what_to_choose_and_changes_nothing(client, line, smtp, typed, expected):
    uid = _to_agency_step(client, line)
    line.text(client, uid, typed)
    answer = line.last(uid)
    assert expected in answer["text"] and _labels(answer) == ["取消"]
    official = Official.get(Official.line_user_id == uid)
    assert official.agency_code is None and official.unit is None
    line.text(client, uid, "研考會")  # the question is still open: a listed agency is found
    assert "找到以下機關" in line.texts(uid)[-1]


def test_r3_1_a_unit_with_markup_is_refused(client, line, smtp):
    uid = _to_agency_step(client, line)
    line.text(client, uid, "研考會")
    line.postback(client, uid, quick_replies(line.last(uid))[0]["data"])
    line.text(client, uid, "<b>資訊室</b>")
    assert "所屬單位不可包含" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).unit is None


def test_r3_1_my_data_shows_the_unit_and_the_official_corrects_it(client, line, smtp):
    uid, official = register(client, line, smtp, unit="資訊室")
    line.text(client, uid, "我的資料")
    assert "所屬單位：資訊室" in line.texts(uid)[-1]
    tap(client, line, uid, "修改所屬單位")
    line.text(client, uid, "綜合規劃組")
    assert "所屬單位：綜合規劃組" in line.texts(uid)[-1]
    assert Official.get_by_id(official.id).unit == "綜合規劃組"
    event = AuditEvent.get(AuditEvent.action == "profile_updated")
    assert event.detail == '{"field": "unit"}'  # which field, never the value


def test_r3_1_changing_the_agency_in_my_data_asks_the_unit_next(client, line, smtp):
    uid, official = register(client, line, smtp)
    line.text(client, uid, "我的資料")
    tap(client, line, uid, "修改所屬機關")
    line.text(client, uid, "豐原國小")
    tap(client, line, uid, "教育局")
    assert "服務的單位" in line.texts(uid)[-1]
    tap(client, line, uid, "豐原國小")
    assert "所屬單位：豐原國小" in line.texts(uid)[-1]
    assert Official.get_by_id(official.id).workplace_label() == "臺中市政府教育局（豐原國小）"


def test_r11_the_console_and_the_recognition_figures_name_the_unit(ops_client):
    official = verified_official(agency_code="D-XITUN", unit="民政課")
    assert "臺中市西屯區公所（民政課）" in page_text(ops_client, "/console/officials")
    assert "民政課" in page_text(ops_client, f"/console/officials/{official.id}")
    no_unit = verified_official(agency_code="EDU")
    assert no_unit.workplace_label() == "臺中市政府教育局"


def test_r3_1_db_migrate_adds_the_unit_column_for_existing_officials(runner):
    official = verified_official()
    db.execute_sql('ALTER TABLE "official" DROP COLUMN "unit"')
    assert "unit" not in {c.name for c in db.get_columns("official")}
    result = runner.invoke(args=["db", "migrate"])
    assert result.exit_code == 0, result.output
    assert "unit" in {c.name for c in db.get_columns("official")}
    assert Official.get_by_id(official.id).unit is None  # existing rows: empty until the official adds it
