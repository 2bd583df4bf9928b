"""What the proposing flow shows: its zh-TW text, the Flex cards, and the signed link to the draft form."""
from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

from models import settings
from models.base import format_taipei
from models.co_proposers import co_proposers
from models.proposals import (
    FIELD_LIMITS,
    PUBLISHED_STATES,
    RETURNED,
    SECONDING,
    Proposal,
    proposal_link,
    removal_ground_words,
)

from . import messages as m

# --- text (zh-TW, one place) ------------------------------------------------------------------

LABELS = {"scope": "範圍", "agency": "權責機關", "group": "提案方式", **{k: v[0] for k, v in FIELD_LIMITS.items()}}
ASK = {
    "scope": "請選擇提案的範圍：",
    "title": "請輸入提案的「主題」（{min}–{max} 字），例如：簡化差勤請假流程。",
    "content": "請輸入「內容或建議事項」（{min}–{max} 字）：現況哪裡不夠好、建議怎麼做。\n文字較長時，可點「用網頁填寫」。",
    "benefits": "請輸入「利益與影響」（{min}–{max} 字）：採行後的好處、受影響的對象與成本。",
    "evidence": ("請輸入「佐證資料」（必填，{min}–{max} 字）：資料來源、數據或網址；"
                 "如果沒有佐證資料，請說明原因，例如「源自承辦實務經驗，尚無統計資料」。"),
    "agency": "請輸入權責機關的名稱或關鍵字（例如：人事處、教育局、西屯區公所）；不確定的話請點「由營運小組協助判斷」。",
    "group": "這是個人提案，還是與同仁一起的共同提案？",
    "coprop": ("請輸入共同提案人註冊時使用的公務電子郵件（一次一位）。每位同仁會在 LINE 收到邀請，"
               "全部確認後才能送出。邀請完畢請點「完成邀請」。"),
}
SCOPE_PICK = "請點選下方三個範圍之一（也可以輸入 1、2 或 3）。"
AGENCY_CHOOSE = "找到以下機關，請點選權責機關；若都不是，請輸入其他關鍵字，或點「由營運小組協助判斷」。"
AGENCY_NONE = "找不到符合「{q}」的機關，請換個關鍵字，或點「由營運小組協助判斷」。"
OPS_LABEL = "由營運小組協助判斷"  # the same words as the proposal shows (Proposal.agency_name)
AGENCY_MORE = "\n（還有其他符合的機關沒有列出，可輸入更完整的名稱，例如「西屯區公所」。）"
RESUME = "您有一份尚未送出的提案草稿（{title}），已自動儲存。要繼續編輯，還是重新開始？"
WELCOME_BACK = "歡迎回來！您的提案草稿已儲存（{title}）。要繼續上次的進度嗎？"
CHANGED_ELSEWHERE = "這份草稿剛在其他地方（例如網頁表單或另一台裝置）更新過，您剛才的輸入沒有儲存。請先確認目前的內容："
STALE = "已處理：這個按鈕屬於先前的步驟，這次操作沒有變更任何資料。"
GONE = "這份提案草稿已送出、撤回或刪除，無法再編輯。"
DISCARD_ASK = "確定要放棄並刪除這份草稿「{title}」嗎？刪除後無法復原。"
RESTART_ASK = "重新開始會刪除目前的草稿「{title}」。確定嗎？"
DISCARDED = "草稿已刪除。"
WITHDRAW_ASK = "確定要撤回提案「{title}」（{number}）嗎？撤回後無法復原。"
WITHDRAWN = "提案「{title}」已撤回。"
ALREADY_WITHDRAWN = "已處理：提案「{title}」先前已撤回。"
SIMILAR_INTRO = ("送出前，請先看看這些相似的提案。若已有相同的提案在附議中，可改為附議它；"
                 "若不相同，請點「仍要送出」繼續您的提案。")
SIMILAR_WHY = "相似之處：{why}"
ALREADY_SECONDED = "✅ 已附議"
READ_WEB = "在網頁閱讀全文"  # the same label wherever a proposal's page is opened
SUBMITTED = ("✅ 提案「{title}」（{number}）已送出！\n營運小組會在 {days} 個工作天內、{due} 前完成檢核，"
             "結果會以 LINE 與電子郵件通知您。")
RESUBMITTED_NOTE = "這是修改後重新送出，檢核期限重新起算。"
SAVED_HINT = "已儲存。"
SAVED_FIELD = ("已儲存「{field}」（{n} 字）。若還有後續文字，請完成後從預覽點「修改」補上，"
               "或點「用網頁填寫」編輯長文。")
CO_INVITED = ("已處理 {email}：若這是已完成認證的同仁，對方會在 LINE 收到邀請，同意後會列在名單中。"
              "可繼續輸入下一位的電子郵件，或點「完成邀請」。")
CO_ANSWERED = {"confirmed": "您已同意擔任共同提案人，提案人會收到通知。謝謝！",
               "declined": "您已婉拒這個共同提案邀請，提案人會收到通知。",
               "already": "已處理：您先前已同意擔任這個提案的共同提案人。"}
CO_NONE_PENDING = "目前沒有等待您回覆的共同提案邀請。"
CO_REMOVED = "已移除 {n} 位尚未確認的共同提案人。"
MINE_EMPTY = "您還沒有提案。點「提出提案」開始第一個提案吧！"
PASSED_NO_WITHDRAW = "提案已通過檢核，依規定不得撤回。"
FORM_LINK_NOTE = "網頁表單連結 24 小時內有效，請勿轉傳。"

# --- the signed link to the web form (webapp/drafts.py) -----------------------------------------

DRAFT_LINK_SALT = "draft-form"
DRAFT_LINK_MAX_AGE = 24 * 3600


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=DRAFT_LINK_SALT)


def draft_token(secret_key: str, official_id: int, proposal_id: int) -> str:
    return _serializer(secret_key).dumps({"o": official_id, "p": proposal_id})


def read_draft_token(secret_key: str, token: str) -> tuple[int, int]:
    """(official id, proposal id); raises SignatureExpired (too old) or BadSignature (forged)."""
    data = _serializer(secret_key).loads(token, max_age=DRAFT_LINK_MAX_AGE)
    if not isinstance(data, dict) or not isinstance(data.get("o"), int) or not isinstance(data.get("p"), int):
        raise BadSignature("malformed")
    return data["o"], data["p"]


def draft_url(ctx, official_id: int, proposal_id: int) -> str:
    return f"{ctx.base_url}/drafts/{draft_token(ctx.secret_key, official_id, proposal_id)}"


# --- cards ------------------------------------------------------------------------------------

PREVIEW_EXCERPT = 400


def excerpt(value: str | None, limit: int) -> str:
    value = (value or "").strip()
    return value if len(value) <= limit else value[:limit] + f"…（全文 {len(value)} 字）"


def _row(label: str, value: str) -> dict:
    return {"type": "box", "layout": "vertical", "margin": "md", "contents": [
        m.flex_text(label, size="xs", color="#888888"), m.flex_text(value or "（未填）", size="sm")]}


def co_proposer_lines(proposal: Proposal) -> str:
    if not proposal.is_group:
        return "個人提案"
    rows = co_proposers(proposal)
    if not rows:
        return "共同提案（尚未邀請共同提案人）"
    names = [f"{r.official.display_name}（已確認）" for r in rows if r.confirmed_at]
    pending = sum(1 for r in rows if not r.confirmed_at)
    if pending:  # names appear only once their owners agreed (R3.0, R4)
        names.append(f"待確認 {pending} 位")
    return "共同提案：" + "、".join(names)


def preview_bubble(proposal: Proposal, form_url: str, submit_action: dict) -> dict:
    """All fields of the draft at a glance; long texts are cut (the web form shows them whole)."""
    evidence = proposal.evidence or ""
    lines = [
        _row(LABELS["scope"], proposal.scope_label),
        _row(LABELS["title"], proposal.title or ""),
        _row(LABELS["content"], excerpt(proposal.content, PREVIEW_EXCERPT)),
        _row(LABELS["benefits"], excerpt(proposal.benefits, PREVIEW_EXCERPT)),
        _row(LABELS["evidence"], excerpt(evidence, PREVIEW_EXCERPT)),
        _row(LABELS["agency"], proposal.agency_name),
        _row(LABELS["group"], co_proposer_lines(proposal)),
    ]
    if proposal.state == RETURNED and proposal.return_reasons:
        lines.insert(0, _row("退回理由", excerpt(proposal.return_reasons, 300)))
    title = "提案預覽（退回修改）" if proposal.state == RETURNED else "提案預覽"
    buttons = [m.button(submit_action), m.button(m.uri_action("用網頁檢視或編輯", form_url), style="secondary")]
    return m.bubble(title, lines, buttons, header_color="#E67E22" if proposal.state == RETURNED else "#06C755")


def similar_lines(match) -> list[dict]:
    """State, seconds so far and why it matched (R9.1.4): enough to choose between seconding it and
    going on with one's own proposal."""
    proposal = match.proposal
    lines = [m.flex_text(f"{proposal.number}｜{proposal.state_label}", size="xs", color="#888888")]
    if proposal.state == SECONDING:
        ends = f"（至 {proposal.seconding_ends:%Y-%m-%d} 止）" if proposal.seconding_ends else ""
        lines.append(m.flex_text(f"附議：{proposal.second_count} / {settings.SECONDING_THRESHOLD}{ends}", size="sm"))
        lines.append(m.progress_bar(proposal.second_count, settings.SECONDING_THRESHOLD))
    elif proposal.second_count:
        lines.append(m.flex_text(f"附議：{proposal.second_count} 份", size="sm"))
    if match.reasons:
        lines.append(m.flex_text(SIMILAR_WHY.format(why="、".join(match.reasons)), size="sm", color="#3B7DDD"))
    lines.append(m.flex_text(f"權責機關：{proposal.agency_name}", size="sm"))
    lines.append(m.flex_text(excerpt(proposal.content, 80), size="sm", color="#555555"))
    return lines


def similar_carousel(found: list, base_url: str, quick: list[dict], seconded: set[int] | frozenset = frozenset(),
                     draft_id: int | None = None) -> dict:
    """The similar proposals (R9.1.4), each with its state, seconds, why it matched, and a way to second
    it (or 已附議, for those the official seconded already).  `draft_id`, the official's own proposal,
    travels with 改為附議, so the next reply can say that it was kept, not sent."""
    bubbles = []
    for match in found:
        proposal = match.proposal
        lines = similar_lines(match)
        buttons = []
        if proposal.state in PUBLISHED_STATES:
            buttons.append(m.button(m.uri_action(READ_WEB, proposal_link(proposal, base_url)), style="secondary"))
        else:  # in review: no public page yet, so described here instead of linking to a 404
            lines.append(m.flex_text("此提案尚在檢核中，還沒有公開頁面；公開附議後即可在網頁查看。", size="xs",
                                     color="#888888"))
        if proposal.id in seconded:
            lines.append(m.flex_text(ALREADY_SECONDED, size="sm", weight="bold", color="#06C755"))
        elif proposal.state == SECONDING:
            buttons.insert(0, m.button(m.postback_action("改為附議", "sec.view", display="改為附議這個提案", p=proposal.id,
                                                         draft=draft_id)))
        bubbles.append(m.bubble(excerpt(proposal.title, 60), lines, buttons or None, header_color="#3B7DDD"))
    return m.flex(f"相似的提案（{len(bubbles)} 件）", m.carousel(bubbles), quick=quick)


def mine_bubble(proposal: Proposal, base_url: str) -> dict:
    lines = [m.flex_text(f"{proposal.number}｜{proposal.state_label}", size="sm", weight="bold")]
    if proposal.scope:
        lines.append(m.flex_text(f"範圍：{proposal.scope_label}", size="xs", color="#888888"))
    lines.append(m.flex_text(f"建立：{format_taipei(proposal.created_at, '%Y-%m-%d')}", size="xs"))
    if proposal.submitted_at:
        lines.append(m.flex_text(f"送出：{format_taipei(proposal.submitted_at, '%Y-%m-%d')}", size="xs"))
    if proposal.state == "submitted" and proposal.review_due:
        lines.append(m.flex_text(f"檢核期限：{proposal.review_due:%Y-%m-%d}", size="xs"))
    if proposal.state == SECONDING:
        target = settings.SECONDING_THRESHOLD
        lines.append(m.flex_text(f"附議：{proposal.second_count} / {target}"
                                 + (f"（至 {proposal.seconding_ends:%Y-%m-%d} 止）" if proposal.seconding_ends else ""), size="sm"))
        lines.append(m.progress_bar(proposal.second_count, target))
    if proposal.state == RETURNED and proposal.return_reasons:
        lines.append(m.flex_text("退回理由：" + excerpt(proposal.return_reasons, 300), size="sm", color="#C0392B"))
    if proposal.state == "removed" and proposal.removal_reason:
        lines.append(m.flex_text(f"移除事由：{removal_ground_words(proposal.removal_ground)}", size="sm"))
        lines.append(m.flex_text(f"說明：{excerpt(proposal.removal_reason, 200)}", size="sm"))
    buttons = []
    if proposal.state == "draft":
        buttons.append(m.button(m.postback_action("繼續編輯", "prop.preview", p=proposal.id)))
    if proposal.state == RETURNED:
        buttons.append(m.button(m.postback_action("修改後重新送出", "prop.revise", p=proposal.id)))
    if proposal.state in ("submitted", RETURNED):
        buttons.append(m.button(m.postback_action("撤回", "prop.withdraw", display="撤回提案", p=proposal.id),
                                style="secondary"))
    if proposal.state in ("seconding", "established", "lapsed", "responded"):
        buttons.append(m.button(m.uri_action("查看提案頁面", proposal_link(proposal, base_url)), style="secondary"))
    return m.bubble(excerpt(proposal.title or "（未命名草稿）", 60), lines, buttons or None)



def invitation_bubble(row) -> dict:
    """One co-proposer invitation, with the invitee's answers (R5.1)."""
    proposal = row.proposal
    return m.bubble(excerpt(proposal.title or "（尚未命名）", 60), [
        m.flex_text(f"提案人：{proposal.proposer.display_name}", size="sm"),
        m.flex_text(excerpt(proposal.content, 120), size="sm", color="#555555"),
    ], [m.button(m.postback_action("同意擔任", "prop.cop", p=proposal.id, v="yes")),
        m.button(m.postback_action("婉拒", "prop.cop", p=proposal.id, v="no"), style="secondary")])
