"""我的附議 in the chat: the official's seconds, newest first, how each proposal stands, and the
opt-in to hear its outcome.

Postbacks: `sec.mine&page=N` (also the rich menu tile and the typed keyword 我的附議),
`sec.notify&p=ID&on=0|1`. The rules are in models.my_seconds.
"""
from __future__ import annotations

from models.base import format_taipei
from models.my_seconds import MySecond, my_seconds, set_outcome_notice, threshold
from models.officials import Official, require_verified
from models.seconds import days_left

from .. import messages as m
from ..registry import action
from .seconding import LABEL_VIEW

PER_PAGE = 9  # + one "more" bubble: a carousel holds at most 12

TEXT = {
    "alt": "我的附議（共 {total} 件，第 {page} 頁）",
    "intro": "您共附議了 {total} 件提案，最新的在前。成案、未成案或機關回應時，開啟「結果通知」的提案會通知您。",
    "none": "您還沒有附議任何提案。附議中的提案都在「附議提案」，需要 {threshold} 份附議才能成案。",
    "seconded_on": "您於 {when} 附議",
    "progress": "{count} / {threshold} 份附議",
    "days_left": "附議中，剩 {days} 天（至 {ends} 23:59）",
    "ends_today": "附議中，今天 23:59 截止",
    "closing": "附議期間已於 {ends} 結束，未達 {threshold} 份，結果確認中",
    "established": "🎉 已成案（{when}），共 {count} 份附議",
    "due": "權責機關應於 {due} 前回應",
    "awaiting_notice": "正在通知權責機關",
    "responded": "機關已回應：{decision}（{when}）",
    "lapsed": "未成案：附議期間於 {ends} 結束，共 {count} / {threshold} 份附議",
    "removed": "這個提案已被移除",
    "notify_on": "🔔 結果通知：開啟",
    "notify_off": "🔕 結果通知：關閉",
    "more_title": "還有更早的附議",
    "more_body": "已顯示第 {page} 頁，點「下一頁」看更早的附議。",
    "next_page": "下一頁",
    "turned_on": "🔔 已開啟提案{number}「{title}」的結果通知：成案、未成案或機關回應時，我們會通知您。",
    "turned_off": "🔕 已關閉提案{number}「{title}」的結果通知；您的附議仍然有效。",
}
LABEL_ON = "通知我結果"
LABEL_OFF = "關閉結果通知"
LABEL_MINE = "我的附議"
HEADER = {"open": "#06C755", "closing": "#6B7280", "established": "#00796B", "responded": "#1F5FBF",
          "lapsed": "#6B7280", "removed": "#6B7280"}


def _day(value) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


def status_lines(item: MySecond, now) -> list[dict]:
    """How the proposal stands: progress and days left, established, the decision, or lapsed."""
    p = item.proposal
    fields = {"count": p.second_count, "threshold": threshold(), "ends": _day(p.seconding_ends)}
    if item.stage == "open":
        left = days_left(p, now)
        window = TEXT["ends_today"] if left == 0 else TEXT["days_left"].format(days=left, **fields)
        return [m.progress_bar(p.second_count, threshold()),
                m.flex_text(TEXT["progress"].format(**fields), size="sm", weight="bold", color="#06C755"),
                m.flex_text(window, size="xs", color="#555555")]
    if item.stage == "closing":
        return [m.flex_text(TEXT["closing"].format(**fields), size="sm", color="#555555")]
    if item.stage == "established":
        due = item.response_due
        return [m.flex_text(TEXT["established"].format(when=format_taipei(p.established_at, "%Y-%m-%d"), **fields),
                            size="sm", weight="bold", color="#00796B"),
                m.flex_text(TEXT["due"].format(due=_day(due)) if due else TEXT["awaiting_notice"],
                            size="xs", color="#555555")]
    if item.stage == "responded":
        return [m.flex_text(TEXT["responded"].format(decision=item.decision_label,
                                                     when=format_taipei(p.responded_at, "%Y-%m-%d")),
                            size="sm", weight="bold", color="#1F5FBF")]
    if item.stage == "lapsed":
        return [m.flex_text(TEXT["lapsed"].format(**fields), size="sm", color="#555555")]
    return [m.flex_text(TEXT["removed"], size="sm", color="#555555")]


def _bubble(item: MySecond, now) -> dict:
    p = item.proposal
    lines = [m.flex_text(f"{p.number}｜{p.agency_name}", size="xs", color="#555555")]
    lines += status_lines(item, now)
    lines.append(m.flex_text(TEXT["seconded_on"].format(when=format_taipei(item.second.created_at, "%Y-%m-%d")),
                             size="xs", color="#555555"))
    buttons = []
    if item.stage != "removed":
        buttons.append(m.button(m.postback_action(LABEL_VIEW, "sec.view", f"查看{p.number}", p=p.id),
                                style="secondary"))
    if item.notice_adjustable:
        lines.append(m.flex_text(TEXT["notify_on"] if item.notify else TEXT["notify_off"], size="xs",
                                 color="#111111", margin="md"))
        label = LABEL_OFF if item.notify else LABEL_ON
        buttons.append(m.button(m.postback_action(label, "sec.notify", f"{label}（{p.number}）", p=p.id,
                                                  on=0 if item.notify else 1), style="link"))
    return m.bubble(p.title or p.number, lines, buttons, header_color=HEADER.get(item.stage, "#6B7280"))


def _quick() -> list[dict]:
    return [m.quick_postback("附議提案", "sec.browse"), m.quick_postback("選單", "menu")]


@action("sec.mine", "我的附議", "附議紀錄")
def mine(ctx, official: Official, state, params):
    require_verified(official)
    page = m.parse_int(params.get("page"))
    items, more, total = my_seconds(official, ctx.now, page=page, per_page=PER_PAGE)
    if not items:
        return [m.text(TEXT["none"].format(threshold=threshold()), quick=_quick())]
    bubbles = [_bubble(item, ctx.now) for item in items]
    if more:
        bubbles.append(m.bubble(TEXT["more_title"], [m.flex_text(TEXT["more_body"].format(page=page + 1), size="sm")],
                                [m.button(m.postback_action(TEXT["next_page"], "sec.mine", f"我的附議第 {page + 2} 頁",
                                                            page=page + 1))], header_color="#888888"))
    return [m.text(TEXT["intro"].format(total=total)),
            m.flex(TEXT["alt"].format(total=total, page=page + 1), m.carousel(bubbles), quick=_quick())]


@action("sec.notify")
def notify(ctx, official: Official, state, params):
    """Turn the notice of one proposal's outcome on or off."""
    item = set_outcome_notice(official, m.parse_int(params.get("p")), params.get("on") == "1", ctx.now)
    key = "turned_on" if item.notify else "turned_off"
    return [m.text(TEXT[key].format(number=item.proposal.number, title=item.proposal.title),
                   quick=[m.quick_postback(LABEL_MINE, "sec.mine")] + _quick())]
