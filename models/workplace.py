"""Where an official works (R2.1, R11): the agency from the list, and the unit as the official writes it.

R2.1 counts as officials the staff of the city government, its agencies *and schools*, but the
agency list holds only the responsible agencies of R2.2 (first-level agencies and district
offices). So registration asks for two things: the first-level agency or district office (from the
list), and the unit as written (豐原國中, 民政課, 第三分局). A search that names a school, a unit
or a subordinate office instead of a listed agency is answered with what to choose, and the typed
text is offered as the unit. Recognition letters (R11) name both (`Official.workplace_label`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .agencies import CITY_PREFIXES, DISTRICT, Agency, active_agencies, get_agency, normalize_text, search_agencies

MAX_UNIT = 40

# (pattern on the typed text, the listed agency it belongs to, why) — first match wins.
_BELONGS_TO: list[tuple[re.Pattern, str, str]] = [
    (re.compile(r"(國小|國中|高中|高工|高農|高商|高職|中學|小學|學校|幼兒園|附幼|特教|國民教育)"), "EDU",
     "學校屬於教育局"),
    (re.compile(r"(分局|派出所|分駐所|警察|刑大|交通大隊)"), "POLICE", "警察分局、派出所屬於警察局"),
    (re.compile(r"戶政"), "CIVIL", "戶政事務所屬於民政局"),
    (re.compile(r"地政事務所"), "LAND", "地政事務所屬於地政局"),
    (re.compile(r"衛生所"), "HEALTH", "衛生所屬於衛生局"),
    (re.compile(r"(清潔隊|環保)"), "EPB", "清潔隊屬於環境保護局"),
    (re.compile(r"(消防|救護|分隊)"), "FIRE", "消防大隊、分隊屬於消防局"),
    (re.compile(r"(圖書館|文化中心|美術館)"), "CULTURE", "圖書館、文化中心屬於文化局"),
    (re.compile(r"稅務"), "TAX", "稅務分局屬於地方稅務局"),
]
_UNIT_ONLY = re.compile(r"^[^\s]{1,12}(科|課|室|股|組|中心|隊|所|館|站|場)$")

MSG = {
    "belongs": "{why}：所屬機關請選「{agency}」，「{q}」請在下一步填寫為所屬單位。",
    "within": "所屬機關請選「{agency}」，「{unit}」請在下一步填寫為所屬單位。",
    "district_unit": "區公所是獨立的機關：所屬機關請選「{agency}」，「{unit}」請在下一步填寫為所屬單位。",
    "subordinate": "「{q}」隸屬於「{agency}」：所屬機關請選「{agency}」，「{q}」請在下一步填寫為所屬單位。",
    "unit_only": ("「{q}」看起來是單位名稱。請先輸入您服務的市府一級機關或區公所（例如：教育局、西屯區公所），"
                  "單位名稱在下一步填寫。"),
    "none": ("找不到符合「{q}」的機關。所屬機關請選市府一級機關（例如：教育局、研考會）或區公所"
             "（例如：西屯區公所）；學校請選教育局，區公所的課室請選該區公所，分局、事務所等所屬機關請選它的上級機關。"
             "您服務的單位（例如：豐原國中、民政課）在下一步填寫。"),
}


@dataclass
class WorkplaceSearch:
    """What a typed agency search found: agencies to choose from, why (when the text named something
    else than a listed agency), and the typed text to offer as the unit."""

    agencies: list[Agency]
    hint: str | None = None
    unit: str | None = None


def _top(agency: Agency) -> Agency:
    """The listed agency an official chooses: a subordinate's parent (never itself)."""
    seen = set()
    while agency.parent_code and agency.code not in seen:
        seen.add(agency.code)
        parent = get_agency(agency.parent_code)
        if parent is None:
            break
        agency = parent
    return agency


def _names(agency: Agency) -> list[str]:
    name = normalize_text(agency.name)
    names = [name, normalize_text(agency.short_name or "")]
    names += [name[len(prefix):] for prefix in CITY_PREFIXES if name.startswith(prefix)]
    return sorted({n for n in names if n}, key=len, reverse=True)


def _contained_agency(query: str) -> tuple[Agency, str] | None:
    """A listed agency named at the start of the text ("西屯區公所民政課"), and the rest as the unit."""
    for agency in active_agencies():
        for name in _names(agency):
            if query.startswith(name) and len(query) > len(name):
                return agency, query[len(name):]
    return None


def search_workplace(text: str, limit: int = 12) -> WorkplaceSearch:
    """Search the agency list for registration: listed agencies first; a school, a unit or a subordinate
    office gets the agency it belongs to and an explanation."""
    query = normalize_text(text)[:60]
    found = search_agencies(text, limit=limit)
    if found:
        tops, hint = [], None
        for agency in found:
            top = _top(agency)
            if top.code != agency.code and hint is None:
                hint = MSG["subordinate"].format(q=agency.name, agency=top.name)
            if top.active and top not in tops:
                tops.append(top)
        return WorkplaceSearch(tops, hint, query if hint else None)
    contained = _contained_agency(query)
    if contained is not None:
        agency, unit = contained
        top = _top(agency)
        key = "district_unit" if top.kind == DISTRICT else "within"
        return WorkplaceSearch([top], MSG[key].format(agency=top.name, unit=unit), unit)
    for pattern, code, why in _BELONGS_TO:
        agency = get_agency(code)
        if pattern.search(query) and agency is not None and agency.active:
            return WorkplaceSearch([agency], MSG["belongs"].format(why=why, agency=agency.name, q=query), query)
    if _UNIT_ONLY.match(query):
        return WorkplaceSearch([], MSG["unit_only"].format(q=query))
    return WorkplaceSearch([], MSG["none"].format(q=query[:30]))
