"""Seconding in the chat (R9.3): browse proposals in seconding, read one, second it with an emailed code.

Postbacks: `sec.browse&page=N&order=new|close&q=KEYWORD`, `sec.search` (the next text is the
keyword), `sec.view&p=ID`, `sec.ask&p=ID`, `sec.confirm&p=ID&notify=0|1`. The typed code itself is
routed by bot.dispatch to `models.codes.confirm_typed_code`, whose table names `seconds.confirm_second`.
"""
from __future__ import annotations

import json
import unicodedata

from models import seconds, settings
from models.base import DomainError, format_taipei
from models.officials import Official, require_verified
from models.proposals import EDITABLE_STATES, proposal_link
from models.terms import require_participant
from models.verification import cooldown_left

from .. import messages as m
from ..conversation import clear_state, set_state
from ..proposal_cards import READ_WEB
from ..registry import action, text_step
from .codes import code_quick
from .proposing import owned_proposal

PER_PAGE = 9  # + one "more" bubble: a carousel holds at most 12
MAX_BUBBLE_BYTES = 25_000  # LINE refuses a bubble over 30 KB; keep a margin
SECTION_BUDGET = (("content", "內容或建議事項", 1500), ("benefits", "利益與影響", 800), ("evidence", "佐證資料", 500))

TEXT = {
    "list_alt": "附議中的提案（第 {page} 頁）",
    "list_intro": "以下是目前附議中的提案（{order}{search}），點「查看全文」閱讀並附議。",
    "list_search": "，關鍵字「{q}」",
    "none": "目前沒有附議中的提案。",
    "none_search": "找不到符合「{q}」的附議中提案，請換個關鍵字。",
    "more_title": "還有更多提案",
    "more_body": "已顯示第 {page} 頁，點「下一頁」看更多。",
    "next_page": "下一頁",
    "ask_keyword": "請輸入要搜尋的關鍵字（最多 20 字，例如：彈性上班、停車）。",
    "bad_keyword": "請輸入 1 到 20 個字的關鍵字，或輸入「取消」。",
    "progress": "{count} / {threshold} 份附議",
    "established": "🎉 已成案，仍可附議至 {ends}",
    "days_left": "剩 {days} 天（至 {ends} 23:59）",
    "ends_today": "今天 23:59 截止",
    "closed": "附議期間已結束（{ends}）",
    "seconded": "✅ 您已附議（附議無法撤回）",
    "own": "這是您的提案",
    "clipped": "（內容較長，完整內容請點「在網頁閱讀全文」）",
    "draft_kept": ("您自己的提案「{title}」還沒有送出，已保留為草稿。附議上面這件之後，"
                   "若仍要提出自己的提案，請點「繼續我的提案」；不需要了，也可以在那裡放棄草稿。"),
    "ask_title": "確認附議",
    "ask_body": ("您要附議提案{number}「{title}」嗎？\n\n"
                 "⚠️ 附議一經確認即無法撤回或取消。\n"
                 "我們會寄送認證碼到 {email}，輸入或回覆認證碼後附議才算數。\n\n"
                 "選「附議並通知我結果」，提案成案或未成案時我們會通知您。"),
    "code_sent": ("📧 附議認證碼已寄到 {email}（有效 {minutes} 分鐘，至 {expires} 止）。\n"
                  "請在這裡輸入 6 位數認證碼，或回覆那封郵件並在內容寫上認證碼。\n"
                  "確認後附議才算數，且無法撤回；未確認的附議不會計入。"),
    "code_fresh": ("📧 認證碼剛剛已寄到 {email}，請查看信箱（有效至 {expires}）。\n"
                   "請在這裡輸入 6 位數認證碼，或回覆那封郵件並在內容寫上認證碼。\n"
                   "如仍未收到，{seconds} 秒後可以再按「重新寄送認證碼」。"),
}
LABEL_SECOND = "附議"
LABEL_OWN_DRAFT = "繼續我的提案"
LABEL_SECOND_NOTIFY = "附議並通知我結果"
LABEL_READ_WEB = READ_WEB
LABEL_VIEW = "查看全文"
LABEL_SEARCH = "搜尋提案"
LABEL_CLEAR = "清除搜尋"
LABEL_BACK = "回到附議列表"




def _window_line(proposal, now) -> str:
    ends = f"{proposal.seconding_ends:%Y-%m-%d}" if proposal.seconding_ends else ""
    if not seconds.window_open(proposal, now):
        return TEXT["closed"].format(ends=ends)
    if proposal.state == seconds.ESTABLISHED:
        return TEXT["established"].format(ends=ends + " 23:59")
    left = seconds.days_left(proposal, now)
    return TEXT["ends_today"] if left == 0 else TEXT["days_left"].format(days=left, ends=ends)


def _progress_lines(proposal, now) -> list[dict]:
    threshold = seconds.threshold()
    return [
        m.progress_bar(proposal.second_count, threshold),
        m.flex_text(TEXT["progress"].format(count=proposal.second_count, threshold=threshold), size="sm",
                    weight="bold", color="#06C755"),
        m.flex_text(_window_line(proposal, now), size="xs", color="#888888"),
    ]


def _card(proposal, now, seconded: bool) -> dict:
    lines = [m.flex_text(f"{proposal.number}｜{proposal.agency_name}", size="xs", color="#555555")]
    lines += _progress_lines(proposal, now)
    if seconded:
        lines.append(m.flex_text(TEXT["seconded"], size="xs", color="#06C755"))
    buttons = [m.button(m.postback_action(LABEL_VIEW, "sec.view", f"查看{proposal.number}", p=proposal.id))]
    return m.bubble(proposal.title or proposal.number, lines, buttons)


def _more_card(page: int, order: str, keyword: str) -> dict:
    return m.bubble(TEXT["more_title"], [m.flex_text(TEXT["more_body"].format(page=page + 1), size="sm")],
                    [m.button(m.postback_action(TEXT["next_page"], "sec.browse", f"附議列表第 {page + 2} 頁",
                                                page=page + 1, order=order, q=keyword or None))],
                    header_color="#888888")


def _browse_quick(order: str, keyword: str) -> list[dict]:
    quick = [m.quick_postback(label, "sec.browse", f"依{label}排序", order=key, q=keyword or None)
             for key, label in seconds.ORDERS.items() if key != order]
    quick.append(m.quick_postback(LABEL_SEARCH, "sec.search"))
    if keyword:
        quick.append(m.quick_postback(LABEL_CLEAR, "sec.browse", LABEL_CLEAR, order=order))
    quick.append(m.quick_postback("選單", "menu"))
    return quick


@action("sec.browse", "附議", "附議提案")
def browse(ctx, official: Official, state, params):
    """R9.3.1: the proposals in seconding, as a carousel with their progress."""
    require_verified(official)
    order = params.get("order") if params.get("order") in seconds.ORDERS else seconds.ORDER_NEWEST
    keyword = seconds.normalise_keyword(params.get("q", ""))
    page = m.parse_int(params.get("page"))
    rows, more = seconds.open_for_seconding(ctx.now, order=order, keyword=keyword, page=page, per_page=PER_PAGE)
    quick = _browse_quick(order, keyword)
    if not rows:
        body = TEXT["none_search"].format(q=keyword) if keyword else TEXT["none"]
        return [m.text(body, quick=quick)]
    mine = seconds.seconded_ids(official, [p.id for p in rows])
    bubbles = [_card(p, ctx.now, p.id in mine) for p in rows]
    if more:
        bubbles.append(_more_card(page, order, keyword))
    intro = TEXT["list_intro"].format(order=seconds.ORDERS[order],
                                      search=TEXT["list_search"].format(q=keyword) if keyword else "")
    return [m.text(intro), m.flex(TEXT["list_alt"].format(page=page + 1), m.carousel(bubbles), quick=quick)]


@action("sec.search")
def search(ctx, official: Official, state, params):
    require_verified(official)
    set_state(state, "seconding", "search")
    return [m.text(TEXT["ask_keyword"], quick=[m.quick_message("取消")])]


@text_step("seconding")
def on_text(ctx, official: Official, state, text):
    require_verified(official)
    if state.step != "search":
        clear_state(state)
        return browse(ctx, official, state, {})
    keyword = seconds.normalise_keyword(text)
    if not keyword or len(unicodedata.normalize("NFKC", text).strip()) > seconds.KEYWORD_MAX:
        return [m.text(TEXT["bad_keyword"], quick=[m.quick_message("取消")])]
    clear_state(state)
    return browse(ctx, official, state, {"q": keyword})


def _sections(proposal, scale: float = 1.0) -> tuple[list[dict], bool]:
    lines, clipped_any = [], False
    for field, label, budget in SECTION_BUDGET:
        value = getattr(proposal, field) or ""
        if not value:
            continue
        shown, clipped = m.clip(value, max(20, int(budget * scale)))
        clipped_any |= clipped
        lines.append(m.flex_text(label, size="sm", weight="bold", margin="md"))
        lines.append(m.flex_text(shown, size="sm"))
    return lines, clipped_any


def detail_bubble(ctx, official: Official, proposal) -> dict:
    """The full text (clipped to LINE's limits) with its link and the 附議 button when the official may second."""
    refused = seconds.refusal(official, proposal, ctx.now)
    head = [m.flex_text(f"{proposal.number}｜{proposal.state_label}", size="xs", color="#555555"),
            m.flex_text(f"範圍：{proposal.scope_label}", size="xs", color="#555555"),
            m.flex_text(f"權責機關：{proposal.agency_name}", size="xs", color="#555555"),
            m.flex_text(f"提案人：{proposal.proposer.display_name}", size="xs", color="#555555")]
    head += _progress_lines(proposal, ctx.now)
    tail, buttons = [], []
    if refused is None:
        buttons.append(m.button(m.postback_action(LABEL_SECOND, "sec.ask", f"附議{proposal.number}", p=proposal.id)))
    elif refused[0] == "already":
        tail.append(m.flex_text(TEXT["seconded"], size="sm", color="#06C755"))
    elif refused[0] == "own":
        tail.append(m.flex_text(TEXT["own"], size="sm", color="#888888"))
    buttons.append(m.button(m.uri_action(LABEL_READ_WEB, proposal_link(proposal, ctx.base_url)), style="secondary"))
    buttons.append(m.button(m.postback_action(LABEL_BACK, "sec.browse", LABEL_BACK), style="link"))
    scale = 1.0
    while True:
        sections, clipped = _sections(proposal, scale)
        notes = [m.flex_text(TEXT["clipped"], size="xs", color="#888888")] if clipped else []
        result = m.bubble(proposal.title or proposal.number, head + sections + notes + tail, buttons)
        # Even pathological text (every character 4 bytes in UTF-8) must stay under LINE's bubble limit.
        if len(json.dumps(result, ensure_ascii=False).encode()) <= MAX_BUBBLE_BYTES or scale < 0.05:
            return result
        scale /= 2


@action("sec.view")
def view(ctx, official: Official, state, params):
    require_verified(official)
    proposal = seconds.viewable(m.parse_int(params.get("p")))
    bubble = detail_bubble(ctx, official, proposal)
    quick = [m.quick_postback(LABEL_BACK, "sec.browse"), m.quick_postback("選單", "menu")]
    draft = owned_proposal(official, params.get("draft"))  # None when absent or not a number
    if draft is None or draft.state not in EDITABLE_STATES:  # only an unsent draft of their own
        return [m.flex(f"{proposal.number}「{proposal.title}」", bubble, quick=quick)]
    # From the similar list (R9.1.4): the official's own proposal was not sent, and can still be.
    return [m.flex(f"{proposal.number}「{proposal.title}」", bubble),
            m.text(TEXT["draft_kept"].format(title=draft.title),
                   quick=[m.quick_postback(LABEL_OWN_DRAFT, "prop.preview", p=draft.id), *quick])]


@action("sec.ask")
def ask(ctx, official: Official, state, params):
    """R9.3.4: say plainly that a second cannot be cancelled, and offer the opt-in to hear the result."""
    require_participant(official)  # R4: the terms of use accepted before seconding
    proposal = seconds.viewable(m.parse_int(params.get("p")))
    refused = seconds.refusal(official, proposal, ctx.now)
    if refused:
        raise DomainError(refused[1], refused[0])
    body = TEXT["ask_body"].format(number=proposal.number, title=proposal.title, email=official.verified_email)
    buttons = [m.button(m.postback_action(LABEL_SECOND_NOTIFY, "sec.confirm", f"附議{proposal.number}並通知我結果",
                                          p=proposal.id, notify=1)),
               m.button(m.postback_action(LABEL_SECOND, "sec.confirm", f"附議{proposal.number}", p=proposal.id, notify=0),
                        style="secondary"),
               m.button(m.postback_action("先不要", "sec.view", f"先不要（{proposal.number}）", p=proposal.id), style="link")]
    return [m.flex(f"確認附議{proposal.number}", m.bubble(TEXT["ask_title"], [m.flex_text(body, size="sm")], buttons))]


@action("sec.confirm")
def confirm(ctx, official: Official, state, params):
    """Email the code; the second counts only once the code comes back (chat or email reply)."""
    require_verified(official)
    notify = params.get("notify") == "1"
    proposal_id = m.parse_int(params.get("p"))
    result = seconds.request_second(official, proposal_id, notify, ctx.reply_domain, ctx.now)
    row = result.code
    expires = format_taipei(row.expires_at, "%H:%M")
    if result.sent:
        body = TEXT["code_sent"].format(email=row.email, minutes=settings.code_minutes(), expires=expires)
    else:
        body = TEXT["code_fresh"].format(email=row.email, expires=expires, seconds=cooldown_left(row, ctx.now))
    return [m.text(body, quick=code_quick(row))]
