"""Responsible agencies (R2.2): the shipped list, `agencies import`, and finding an agency by name."""
from __future__ import annotations

import flask
import pytest

from models.agencies import (
    DISTRICT,
    FIRST_LEVEL,
    SHIPPED_CSV,
    Agency,
    active_agencies,
    get_agency,
    import_agencies,
    search_agencies,
)
from webapp.cli_agencies import agencies_cli

HEADER = "code,name,short_name,kind,contact_email,parent_code\n"

DISTRICTS = [
    "中區", "東區", "南區", "西區", "北區", "西屯區", "南屯區", "北屯區", "豐原區", "東勢區",
    "大甲區", "清水區", "沙鹿區", "梧棲區", "后里區", "神岡區", "潭子區", "大雅區", "新社區", "石岡區",
    "外埔區", "大安區", "烏日區", "大肚區", "龍井區", "霧峰區", "太平區", "大里區", "和平區",
]

FIRST_LEVEL_NAMES = [
    "秘書處", "民政局", "財政局", "教育局", "經濟發展局", "建設局", "交通局", "都市發展局",
    "水利局", "農業局", "觀光旅遊局", "地政局", "社會局", "勞工局", "警察局", "衛生局",
    "環境保護局", "文化局", "地方稅務局", "新聞局", "法制局", "消防局", "運動局", "數位發展局",
    "捷運工程局", "人事處", "主計處", "政風處", "研究發展考核委員會", "原住民族事務委員會", "客家事務委員會",
]


@pytest.fixture
def shipped(db):
    result = import_agencies(SHIPPED_CSV)
    assert result.errors == []
    return result


def csv_bytes(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode("utf-8")


# ---------------------------------------------------------------- the shipped list


def test_r2_2_shipped_csv_loads_every_district_office_and_first_level_agency(db):
    result = import_agencies(SHIPPED_CSV)

    assert result.errors == [] and not result.rejected
    assert result.created == len(DISTRICTS) + len(FIRST_LEVEL_NAMES)
    districts = {a.name for a in Agency.select().where(Agency.kind == DISTRICT)}
    assert districts == {f"臺中市{d}公所" for d in DISTRICTS}
    assert len(districts) == 29
    first_level = {a.name for a in Agency.select().where(Agency.kind == FIRST_LEVEL)}
    assert first_level == {f"臺中市政府{n}" for n in FIRST_LEVEL_NAMES}
    rdec = get_agency("RDEC")
    assert (rdec.name, rdec.short_name, rdec.contact_email) == (
        "臺中市政府研究發展考核委員會", "研考會", "rdec@taichung.gov.tw")
    xitun = get_agency("D-XITUN")
    assert (xitun.name, xitun.contact_email) == ("臺中市西屯區公所", "xitun-district@taichung.gov.tw")
    assert all(a.contact_email.endswith("@taichung.gov.tw") and a.active for a in Agency.select())


def test_r2_2_reimport_is_idempotent_and_updates_by_code(shipped):
    again = import_agencies(SHIPPED_CSV)
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, shipped.created, [])
    assert Agency.select().count() == shipped.created

    changed = import_agencies(csv_bytes("RDEC,臺中市政府研究發展考核委員會,研考會,first_level,Ops@TAICHUNG.gov.tw,"))
    assert (changed.created, changed.updated, changed.errors) == (0, 1, [])
    assert get_agency("RDEC").contact_email == "Ops@taichung.gov.tw"
    assert Agency.select().where(Agency.code == "RDEC").count() == 1


def test_r2_2_reimport_keeps_an_agency_deactivated_unless_the_file_says_active(shipped):
    Agency.update(active=False).where(Agency.code == "D-HEPING").execute()
    import_agencies(SHIPPED_CSV)
    assert get_agency("D-HEPING").active is False

    header = "code,name,short_name,kind,contact_email,parent_code,active\n"
    row = "D-HEPING,臺中市和平區公所,和平區公所,district,heping-district@taichung.gov.tw,,1\n"
    result = import_agencies((header + row).encode())
    assert result.updated == 1 and get_agency("D-HEPING").active is True


def test_r2_2_import_accepts_rows_of_dicts_and_subordinate_agencies(db):
    rows = [
        {"code": "ceb", "name": "臺中市政府建設局", "short_name": "建設局", "kind": "first_level",
         "contact_email": "ceb@taichung.gov.tw"},
        {"code": "CEB-PARKS", "name": "臺中市政府建設局公園管理科", "short_name": "公園科", "kind": "first_level",
         "parent_code": "ceb"},
    ]
    result = import_agencies(rows)
    assert (result.created, result.errors) == (2, [])
    sub = get_agency("ceb-parks")
    assert (sub.parent_code, sub.contact_email) == ("CEB", None)

    orphans = [
        {"code": "CEB", "name": "臺中市政府建設局", "short_name": "建設局", "kind": "first_level", "parent_code": "X"},
        {"code": "A", "name": "甲", "short_name": "甲", "kind": "first_level", "parent_code": "B"},
        {"code": "B", "name": "乙", "short_name": "乙", "kind": "first_level", "parent_code": "A"},
    ]
    result = import_agencies(orphans)
    assert result.created == result.updated == 0
    assert [e[:6] for e in result.errors] == ["第 1 筆：", "第 2 筆：", "第 3 筆："]
    assert get_agency("CEB").parent_code is None and get_agency("A") is None


def test_r2_2_excel_csv_with_bom_crlf_and_unnamed_trailing_columns_is_accepted(db):
    data = ("\ufeffcode,name,short_name,kind,contact_email,parent_code,,\r\n"
            "RDEC,臺中市政府研究發展考核委員會,研考會,first_level,,,,\r\n"
            "EDU,臺中市政府教育局,教育局,first_level,,,,stray\r\n")
    result = import_agencies(data.encode("utf-8"))
    assert result.created == 1
    assert result.errors == ["第 3 行：欄位數多於標題列，已略過。"]


# ---------------------------------------------------------------- bad rows and hostile files


def test_r2_2_bad_rows_are_skipped_with_an_error_naming_the_line(db):
    data = csv_bytes(
        "RDEC,臺中市政府研究發展考核委員會,研考會,first_level,rdec@taichung.gov.tw,",  # line 2: good
        "EDU,,教育局,first_level,,",  # 3: no name
        "SEC,臺中市政府秘書處,秘書處,bureau,,",  # 4: unknown kind
        "FIRE,臺中市政府消防局,消防局,first_level,not-an-email,",  # 5: bad email
        "NEWS,臺中市政府\u202e新聞局,新聞局,first_level,,",  # 6: bidi override
        "LONG," + "長" * 101 + ",長,first_level,,",  # 7: name too long
        "rdec,臺中市政府研考會,研考會,first_level,,",  # 8: duplicate of line 2
        "D-XITUN,臺中市西屯區公所,西屯區公所,district,,NOPE",  # 9: unknown parent
        "BAD CODE!,臺中市政府法制局,法制局,first_level,,",  # 10: bad code
        "TAX,臺中市政府地方稅務局,稅務局,first_level,,,extra",  # 11: too many fields
        "",  # blank lines are ignored
        'HAKKA,"臺中市政府客家事務委員會",客委會,first_level,hakka@taichung.gov.tw,',  # 13: good
    )
    result = import_agencies(data)

    assert result.created == 2 and not result.rejected
    assert [a.code for a in Agency.select().order_by(Agency.code)] == ["HAKKA", "RDEC"]
    assert len(result.errors) == 9
    for line, error in zip((3, 4, 5, 6, 7, 8, 9, 10, 11), result.errors, strict=True):
        assert error.startswith(f"第 {line} 行：")
    assert "「name」不可空白" in result.errors[0]
    assert "bureau" in result.errors[1]
    assert "not-an-email" in result.errors[2]
    assert "控制字元" in result.errors[3]
    assert "超過 100 字" in result.errors[4]
    assert "與第 2 行重複" in result.errors[5]
    assert "NOPE" in result.errors[6]


def _too_many_rows() -> bytes:
    return csv_bytes(*(f"C{i},臺中市政府測試{i},測試{i},first_level,," for i in range(5001)))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (HEADER.encode() + b"X" * (2 * 1024 * 1024), "2 MB"),
        (_too_many_rows(), "5000"),
        (csv_bytes("EDU,臺中市政府教育局,教育局,first_level,,").decode().encode("big5"), "Big5"),
        (csv_bytes("EDU,臺中市政府教育局,教育局,first_level,,").decode().encode("utf-16"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
        (b"", "空的"),
        ("code,name\nEDU,教育局\n".encode(), "缺少欄位"),
        (("code,name,short_name,kind,password\nEDU,教,教,first_level,x\n").encode(), "不認得"),
        (("code,name,short_name,kind\n" + 'EDU,"unterminated,教,first_level\n').encode(), "CSV 格式錯誤"),
    ],
    ids=["huge", "too-many-rows", "big5", "utf16-bom", "binary", "empty", "missing-columns", "unknown-column",
         "unterminated-quote"],
)
def test_r2_2_hostile_file_is_refused_whole_and_changes_nothing(db, data, expected):
    import_agencies(csv_bytes("RDEC,臺中市政府研究發展考核委員會,研考會,first_level,rdec@taichung.gov.tw,"))

    result = import_agencies(data)

    assert result.rejected and result.created == result.updated == 0
    assert len(result.errors) == 1 and expected in result.errors[0]
    assert "未匯入任何資料" in result.errors[0]
    assert [(a.code, a.contact_email) for a in Agency.select()] == [("RDEC", "rdec@taichung.gov.tw")]


def test_r2_2_oversized_file_on_disk_is_refused_before_reading(db, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(HEADER.encode() + b"," * (3 * 1024 * 1024))
    result = import_agencies(path)
    assert result.rejected and "2 MB" in result.errors[0]


# ---------------------------------------------------------------- finding an agency


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("西屯", "D-XITUN"),
        ("西屯區", "D-XITUN"),
        ("  台中市西屯區公所 ", "D-XITUN"),
        ("臺中市西屯區", "D-XITUN"),
        ("研考會", "RDEC"),
        ("台中市政府研考會", "RDEC"),
        ("研究發展考核", "RDEC"),
        ("台中市政府研究發展考核委員會", "RDEC"),
        ("ｒｄｅｃ", "RDEC"),
        ("中區", "D-CENTRAL"),
        ("環保局", "EPB"),
        ("捷運", "MRT"),
    ],
)
def test_r2_2_search_finds_agency_by_name_short_name_and_spelling_variants(shipped, text, code):
    found = search_agencies(text)
    assert found and found[0].code == code


def test_r2_2_search_puts_exact_short_name_first_and_respects_limit(shipped):
    # 社會局 is an exact short name; nothing else may outrank it.
    assert search_agencies("社會局")[0].code == "SOCIAL"
    broad = search_agencies("台中", limit=3)
    assert len(broad) == 3
    assert search_agencies("區公所", limit=100)[0].kind == DISTRICT
    assert len(search_agencies("區公所", limit=100)) == 29


def test_r2_2_search_skips_inactive_agencies_and_junk_queries(shipped):
    Agency.update(active=False).where(Agency.code == "D-XITUN").execute()
    assert search_agencies("西屯") == []
    assert search_agencies("") == []
    assert search_agencies("   ") == []
    assert search_agencies("%") == []
    assert search_agencies("研" * 500) == []
    assert "D-XITUN" not in {a.code for a in active_agencies()}


def test_r2_2_get_agency_and_active_agencies_order(shipped):
    assert get_agency(" rdec ").code == "RDEC"
    assert get_agency("NOPE") is None
    assert get_agency("'; DROP TABLE agency; --") is None
    listed = active_agencies()
    kinds = [a.kind for a in listed]
    assert kinds == sorted(kinds, key=lambda k: k != FIRST_LEVEL)
    assert len(listed) == 60


# ---------------------------------------------------------------- the command line


@pytest.fixture
def runner(db):
    app = flask.Flask(__name__)
    app.cli.add_command(agencies_cli)
    return app.test_cli_runner()


def test_r2_2_cli_import_prints_counts(runner):
    result = runner.invoke(args=["agencies", "import", str(SHIPPED_CSV)])
    assert result.exit_code == 0, result.output
    assert "新增 60 筆" in result.output
    result = runner.invoke(args=["agencies", "import", str(SHIPPED_CSV)])
    assert result.exit_code == 0
    assert "新增 0 筆" in result.output and "未變更 60 筆" in result.output
    listed = runner.invoke(args=["agencies", "list"])
    assert "RDEC\tfirst_level\t臺中市政府研究發展考核委員會" in listed.output


def test_r2_2_cli_import_with_bad_rows_prints_errors_and_exits_1(runner, tmp_path):
    path = tmp_path / "agencies.csv"
    path.write_bytes(csv_bytes("RDEC,臺中市政府研究發展考核委員會,研考會,first_level,,", "EDU,,教育局,first_level,,"))
    result = runner.invoke(args=["agencies", "import", str(path)])
    assert result.exit_code == 1
    assert "新增 1 筆" in result.stdout
    assert "第 3 行" in result.stderr


def test_r2_2_cli_import_refuses_wrong_encoding_and_missing_file(runner, tmp_path):
    path = tmp_path / "big5.csv"
    path.write_bytes(csv_bytes("EDU,臺中市政府教育局,教育局,first_level,,").decode().encode("big5"))
    result = runner.invoke(args=["agencies", "import", str(path)])
    assert result.exit_code == 1 and "UTF-8" in result.stderr
    assert Agency.select().count() == 0
    assert runner.invoke(args=["agencies", "import", str(tmp_path / "missing.csv")]).exit_code == 2
