"""Policy consultations in the chat (R5.2, R10): browse the open ones, read one, give an opinion.

Postbacks: `con.browse&page=N`, `con.view&c=ID`, `con.opine&c=ID` (the next text is the opinion),
`con.edit&o=OPINION` (the next text replaces it), `con.send&c=ID&t=TOKEN&notify=0|1` (saves what
was confirmed), `con.mine&c=ID`. An opinion is shown back for confirmation before it is saved; the
confirmation carries a token of that question, so a stale or repeated tap saves nothing.
Reading is open to anyone who follows the account (the pages are public); giving an opinion needs
a verified official (R3.2).
"""
from __future__ import annotations

import json
import secrets

from models import consultations as domain
from models import opinions
from models.base import DomainError
from models.officials import Official, require_verified
from models.terms import require_participant
from models.texts import without_clauses

from .. import messages as m
from ..conversation import ConversationState, clear_state, set_state
from ..registry import action, text_step

FLOW = "consulting"
PER_PAGE = 9  # + one "more" bubble: a carousel holds at most 12
MAX_BUBBLE_BYTES = 25_000  # LINE refuses a bubble over 30 KB; keep a margin

TEXT = {
    "merged": "（已把您剛才的訊息併入同一則意見；若要重新輸入，請點「重新輸入」。）\n",
    "list_alt": "開放中的政策諮詢（第 {page} 頁）",
    "list_intro": "以下是開放中的政策諮詢，點「查看全文」閱讀背景與問題，點「提供意見」發表您的看法。",
    "none": "目前沒有開放中的政策諮詢。有新的諮詢時，可以再從選單的「政策諮詢」查看。",
    "more_title": "還有更多諮詢",
    "more_body": "已顯示第 {page} 頁，點「下一頁」看更多。",
    "days_left": "剩 {days} 天（至 {ends} 23:59）",
    "ends_today": "今天 23:59 截止",
    "ended": "徵詢已結束（{ends}）",
    "count": "{count} 則意見",
    "mine": "您已提出 {n} 則意見",
    "clipped": "（內容較長，完整內容請點「在網頁閱讀全文」）",
    "ask": ("請輸入您對「{title}」的意見（{min}–{max} 字，一則訊息為一則意見；可以分多則提出）。\n"
            "意見會以您的顯示名稱「{name}」公開。\n\n徵詢問題：\n{questions}"),
    "ask_edit": "請輸入修改後的意見（{min}–{max} 字），將取代原本的內容：\n\n{current}",
    "too_long_hint": "\n可以分成幾則意見送出。請重新輸入，或輸入「取消」。",
    "retry_hint": "\n請重新輸入，或輸入「取消」。",
    "confirm": "請確認您的意見（{n} 字）：\n\n{text}\n\n送出後將以您的顯示名稱「{name}」公開在諮詢頁面。",
    "confirm_edit": "請確認修改後的意見（{n} 字）：\n\n{text}",
    "thanks": "🙏 感謝您的意見！「{title}」目前共有 {count} 則意見，其中 {mine} 則是您提出的。\n徵詢至 {ends} 23:59 止，期間內您可以再提出意見或修改。",
    "thanks_notify": "\n諮詢結束及機關公布綜整回應時，我們會通知您。",
    "edited": "✅ 已修改您的意見。「{title}」徵詢至 {ends} 23:59 止。",
    "stale": "已處理：這個按鈕屬於先前的步驟，這次操作沒有變更任何資料。",
    "mine_none": "您還沒有對「{title}」提出意見。",
    "mine_list": "您對「{title}」提出的意見：\n\n{items}",
    "summary_title": "機關綜整回應",
    "summary_pending": "機關將於 {due} 前公布綜整回應。",
}
LABEL_VIEW = "查看全文"  # the same label as a proposal's
LABEL_OPINE = "提供意見"
LABEL_MORE_OPINION = "再提供意見"
LABEL_MINE = "我的意見"
LABEL_SEND = "送出意見"
LABEL_SEND_NOTIFY = "送出並通知我結果"
LABEL_SAVE_EDIT = "儲存修改"
LABEL_RETYPE = "重新輸入"
LABEL_READ_WEB = "在網頁閱讀全文"
LABEL_BACK = "回到諮詢列表"
LABEL_LIST = "政策諮詢"




def _window_line(consultation, now) -> str:
    ends = f"{consultation.closes_on:%Y-%m-%d}" if consultation.closes_on else ""
    if not domain.window_open(consultation, now):
        closed = consultation.closed_on or consultation.closes_on
        return TEXT["ended"].format(ends=f"{closed:%Y-%m-%d}" if closed else ends)
    left = domain.days_left(consultation, now)
    return TEXT["ends_today"] if left == 0 else TEXT["days_left"].format(days=left, ends=ends)


def _quick_menu() -> list[dict]:
    return [m.quick_postback(LABEL_LIST, "con.browse"), m.quick_postback("選單", "menu")]


# --- browsing ---------------------------------------------------------------------------------

def _card(consultation, now, count: int) -> dict:
    lines = [m.flex_text(consultation.agency_name, size="xs", color="#555555"),
             m.flex_text(f"{consultation.stage_label}階段｜{consultation.scope_label}", size="xs", color="#555555"),
             m.flex_text(TEXT["count"].format(count=count), size="sm", weight="bold", color="#06C755"),
             m.flex_text(_window_line(consultation, now), size="xs", color="#888888")]
    buttons = [m.button(m.postback_action(LABEL_OPINE, "con.opine", f"對「{consultation.title[:20]}」提供意見",
                                          c=consultation.id)),
               m.button(m.postback_action(LABEL_VIEW, "con.view", f"查看{consultation.number}", c=consultation.id),
                        style="secondary")]
    return m.bubble(consultation.title, lines, buttons)


def _more_card(page: int) -> dict:
    return m.bubble(TEXT["more_title"], [m.flex_text(TEXT["more_body"].format(page=page + 1), size="sm")],
                    [m.button(m.postback_action("下一頁", "con.browse", f"政策諮詢第 {page + 2} 頁", page=page + 1))],
                    header_color="#888888")


@action("con.browse", "政策諮詢", "諮詢")
def browse(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    """R5.2: the consultations open now, as a carousel (title, agency, days left, opinion count)."""
    page = m.parse_int(params.get("page"))
    rows, more = domain.open_consultations(ctx.now, page=page, per_page=PER_PAGE)
    quick = [m.quick_postback("選單", "menu")]
    if not rows:
        return [m.text(TEXT["none"], quick=quick)]
    counts = domain.opinion_counts([c.id for c in rows])
    bubbles = [_card(c, ctx.now, counts.get(c.id, 0)) for c in rows]
    if more:
        bubbles.append(_more_card(page))
    return [m.text(TEXT["list_intro"]), m.flex(TEXT["list_alt"].format(page=page + 1), m.carousel(bubbles), quick=quick)]


def detail_bubble(ctx, official: Official, consultation) -> dict:
    """Background, questions (clipped to LINE's limits), the summary when published, and the link to the page."""
    count = domain.opinion_counts([consultation.id]).get(consultation.id, 0)
    mine = opinions.own_opinion_count(official, consultation.id) if official.is_verified else 0
    head = [m.flex_text(f"{consultation.number}｜{consultation.state_label}", size="xs", color="#555555"),
            m.flex_text(f"機關：{consultation.agency_name}", size="xs", color="#555555"),
            m.flex_text(f"範圍：{consultation.scope_label}", size="xs", color="#555555"),
            m.flex_text(f"階段：{consultation.stage_label}", size="xs", color="#555555"),
            m.flex_text(f"依據：{consultation.basis_label}", size="xs", color="#555555"),
            m.flex_text(TEXT["count"].format(count=count), size="sm", weight="bold", color="#06C755"),
            m.flex_text(_window_line(consultation, ctx.now), size="xs", color="#888888")]
    if mine:
        head.append(m.flex_text(TEXT["mine"].format(n=mine), size="xs", color="#06C755"))
    buttons = []
    if opinions.refusal(consultation, ctx.now) is None:
        buttons.append(m.button(m.postback_action(LABEL_OPINE, "con.opine", f"對「{consultation.title[:20]}」提供意見",
                                                  c=consultation.id)))
    if mine:
        buttons.append(m.button(m.postback_action(LABEL_MINE, "con.mine", LABEL_MINE, c=consultation.id),
                                style="secondary"))
    buttons.append(m.button(m.uri_action(LABEL_READ_WEB, domain.consultation_link(consultation, ctx.base_url)),
                            style="secondary"))
    buttons.append(m.button(m.postback_action(LABEL_BACK, "con.browse", LABEL_BACK), style="link"))
    budgets = [("背景說明", consultation.background, 1500), ("徵詢問題", consultation.questions, 1000)]
    if consultation.state == domain.SUMMARISED:
        budgets.append((TEXT["summary_title"], consultation.summary, 1200))
    scale = 1.0
    while True:
        sections, clipped_any = [], False
        for label, value, budget in budgets:
            shown, clipped = m.clip(value, max(20, int(budget * scale)))
            clipped_any |= clipped
            sections += [m.flex_text(label, size="sm", weight="bold", margin="md"), m.flex_text(shown, size="sm")]
        if consultation.state == domain.CLOSED and consultation.effective_summary_due:
            sections.append(m.flex_text(TEXT["summary_pending"].format(
                due=f"{consultation.effective_summary_due:%Y-%m-%d}"), size="xs", color="#888888", margin="md"))
        notes = [m.flex_text(TEXT["clipped"], size="xs", color="#888888")] if clipped_any else []
        result = m.bubble(consultation.title, head + sections + notes, buttons)
        # Even pathological text (every character 4 bytes in UTF-8) must stay under LINE's bubble limit.
        if len(json.dumps(result, ensure_ascii=False).encode()) <= MAX_BUBBLE_BYTES or scale < 0.05:
            return result
        scale /= 2


@action("con.view")
def view(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    consultation = domain.viewable(m.parse_int(params.get("c")))
    return [m.flex(f"{consultation.number}「{consultation.title}」", detail_bubble(ctx, official, consultation),
                   quick=_quick_menu())]


# --- giving and editing an opinion --------------------------------------------------------------

def _token_quick(state: ConversationState, label: str, name: str, display: str | None = None, **params) -> dict:
    return m.quick_postback(label, name, display, t=state.values.get("t"), **params)


@action("con.opine")
def opine(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    """Ask for the opinion; the next text is it (shown back for confirmation before it is saved)."""
    require_participant(official)  # R4: the terms of use accepted before giving an opinion
    consultation = domain.viewable(m.parse_int(params.get("c")))
    refused = opinions.refusal(consultation, ctx.now)
    if refused:
        raise DomainError(refused[1], refused[0])
    if opinions.own_opinion_count(official, consultation.id) >= domain.MAX_OPINIONS_PER_OFFICIAL:
        raise DomainError(domain.MSG["too_many"].format(n=domain.MAX_OPINIONS_PER_OFFICIAL), "too_many")
    clear_state(state)
    set_state(state, FLOW, "opinion", cid=consultation.id, t=secrets.token_hex(4))
    questions, _ = m.clip(consultation.questions, 1500)
    body = TEXT["ask"].format(title=consultation.title, min=domain.OPINION_MIN, max=domain.OPINION_MAX,
                              name=official.display_name, questions=questions)
    return [m.text(body, quick=[m.quick_message("取消")])]


@action("con.edit")
def edit(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    """Ask for the new text of one of the official's opinions (only while the consultation is open)."""
    require_verified(official)
    opinion = domain.Opinion.get_or_none(domain.Opinion.id == m.parse_int(params.get("o")))
    if opinion is None or opinion.official_id != official.id:
        raise DomainError(domain.MSG["opinion_not_found"], "not_found")
    refused = opinions.refusal(opinion.consultation, ctx.now)
    if refused:
        raise DomainError(refused[1], refused[0])
    if opinion.is_hidden:
        raise DomainError(domain.MSG["opinion_hidden"], "hidden")
    clear_state(state)
    set_state(state, FLOW, "opinion", cid=opinion.consultation_id, oid=opinion.id, t=secrets.token_hex(4))
    current, _ = m.clip(opinion.text, 1500)
    body = TEXT["ask_edit"].format(min=domain.OPINION_MIN, max=domain.OPINION_MAX, current=current)
    return [m.text(body, quick=[m.quick_message("取消")])]


@text_step(FLOW)
def on_text(ctx, official: Official, state: ConversationState, text: str) -> list[dict]:
    """The opinion typed (or a replacement typed while confirming): validate and show it back."""
    require_verified(official)
    if state.step not in ("opinion", "confirm") or not state.values.get("cid"):
        clear_state(state)
        return browse(ctx, official, state, {})
    consultation = domain.viewable(int(state.values["cid"]))
    refused = opinions.refusal(consultation, ctx.now)
    if refused:  # it closed while the official was typing
        clear_state(state)
        return [m.text(refused[1], quick=_quick_menu())]
    pending = state.values.get("text") if state.step == "confirm" else None
    try:
        # A long opinion often arrives as several chat messages: a message typed while one waits for
        # confirmation is added to it, never silently put in its place.
        cleaned = opinions.clean_opinion(f"{pending}\n{text}" if pending else text)
    except DomainError as error:
        hint = TEXT["too_long_hint"] if error.code == "too_long" else TEXT["retry_hint"]
        return [m.text(without_clauses(error.message) + hint, quick=[m.quick_message("取消")])]
    editing = bool(state.values.get("oid"))
    set_state(state, FLOW, "confirm", text=cleaned, t=secrets.token_hex(4))
    cid = consultation.id
    if editing:
        body = TEXT["confirm_edit"].format(n=len(cleaned), text=cleaned)
        if pending:
            body = TEXT["merged"] + body
        quick = [_token_quick(state, LABEL_SAVE_EDIT, "con.send", c=cid)]
    else:
        body = TEXT["confirm"].format(n=len(cleaned), text=cleaned, name=official.display_name)
        if pending:
            body = TEXT["merged"] + body
        quick = [_token_quick(state, LABEL_SEND, "con.send", c=cid, notify=0),
                 _token_quick(state, LABEL_SEND_NOTIFY, "con.send", c=cid, notify=1)]
    quick += [m.quick_postback(LABEL_RETYPE, "con.edit" if editing else "con.opine", LABEL_RETYPE,
                               **({"o": state.values["oid"]} if editing else {"c": cid})),
              m.quick_message("取消")]
    return [m.text(body, quick=quick)]


@action("con.send")
def send(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    """Save the confirmed opinion (or the edit); thank the official with the count."""
    require_verified(official)
    values = state.values
    if (state.flow != FLOW or state.step != "confirm" or params.get("t") != values.get("t")
            or str(values.get("cid")) != params.get("c") or not values.get("text")):
        return [m.text(TEXT["stale"], quick=_quick_menu())]
    consultation_id, text = int(values["cid"]), values["text"]
    if values.get("oid"):
        opinions.edit_opinion(official, int(values["oid"]), text, ctx.now)
        clear_state(state)
        consultation = domain.Consultation.get_by_id(consultation_id)
        body = TEXT["edited"].format(title=consultation.title, ends=f"{consultation.closes_on:%Y-%m-%d}")
        return [m.text(body, quick=[m.quick_postback(LABEL_MINE, "con.mine", LABEL_MINE, c=consultation_id)]
                       + _quick_menu())]
    notify = params.get("notify") == "1"
    opinions.give_opinion(official, consultation_id, text, notify, ctx.now)
    clear_state(state)
    consultation = domain.Consultation.get_by_id(consultation_id)
    body = TEXT["thanks"].format(title=consultation.title,
                                 count=domain.opinion_counts([consultation_id]).get(consultation_id, 0),
                                 mine=opinions.own_opinion_count(official, consultation_id),
                                 ends=f"{consultation.closes_on:%Y-%m-%d}")
    if notify:
        body += TEXT["thanks_notify"]
    quick = [m.quick_postback(LABEL_MORE_OPINION, "con.opine", LABEL_MORE_OPINION, c=consultation_id),
             m.quick_postback(LABEL_MINE, "con.mine", LABEL_MINE, c=consultation_id)]
    return [m.text(body, quick=quick + _quick_menu())]


@action("con.mine")
def mine(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    """The official's own opinions on one consultation, each with an edit button while it is open."""
    require_verified(official)
    consultation = domain.viewable(m.parse_int(params.get("c")))
    rows = opinions.own_opinions(official, consultation.id)
    if not rows:
        return [m.text(TEXT["mine_none"].format(title=consultation.title), quick=_quick_menu())]
    items = []
    for n, opinion in enumerate(rows, 1):
        shown, _ = m.clip(opinion.text, 200)
        mark = "（已隱藏）" if opinion.is_hidden else ("（已修改）" if opinion.edited_at else "")
        items.append(f"{n}. {shown}{mark}")
    body, _ = m.clip(TEXT["mine_list"].format(title=consultation.title, items="\n\n".join(items)), 4900)
    quick = []
    if opinions.refusal(consultation, ctx.now) is None:
        quick = [m.quick_postback(f"修改第{n}則", "con.edit", f"修改第{n}則意見", o=o.id)
                 for n, o in enumerate(rows, 1) if not o.is_hidden][:10]
    return [m.text(body, quick=quick + _quick_menu())]
