"""Terms of use and the privacy notice (R4: 個人資料、著作權等相關權益), and their acceptance.

An official accepts the terms once, at registration; the acceptance is recorded on the official
(`terms_version`, `terms_accepted_at`) and in the audit trail with the version. Officials who
registered before (or before the version changed) accept at their next proposal, second or opinion:
`require_participant` is the guard those flows use, and the chat answers its refusal with the terms
and an accept button that continues where the official was (bot/handlers/terms.py).

The same text serves the chat (a short form without clause numbers) and the public page /terms.
"""
from __future__ import annotations

import datetime as dt

from . import settings
from .base import DomainError, utcnow
from .events import record
from .officials import Official, require_verified
from .outbox import transaction

MSG = {
    "needed": "繼續之前，請先閱讀並同意使用條款與個人資料告知。",
    "changed": "使用條款已更新，請閱讀新版後再按同意。",
}


def _days(key: str) -> int:
    return settings.RETENTION_DAYS[key]


def chat_summary(public_url: str) -> str:
    """The short form shown in LINE: what the city may do with posts, sources, personal data, retention, rights."""
    return (
        f"【使用條款與個人資料告知】（{settings.TERMS_VERSION} 版）\n"
        "一、您在本平臺提出的提案、附議與意見，以及機關的回應，臺中市政府得公開於本平臺，"
        "並依「政府資料開放授權條款」以開放資料提供各界利用。\n"
        "二、引用他人的文章、數據或圖表，請註明出處；侵害他人權利的內容，權利人申訴後會依規定移除。\n"
        "三、個人資料：您的姓名、暱稱、電話、電子郵件、地址、所屬機關與單位，只用於身分認證、聯繫與平臺營運。"
        "公開時只顯示您選擇的名稱；電話、電子郵件與地址不公開、不提供機關，只有營運小組說明事由後才能查看，每次查看都有紀錄。\n"
        f"四、保存期間：帳號存續期間保存；您關閉帳號時，聯絡資料立即刪除，已發表的內容以顯示名稱保留。"
        f"聊天原文保存 {_days('chat_text')} 日，通知內容保存 {_days('notice_text')} 日。\n"
        "五、您可以在「我的資料」查看、更正資料或關閉帳號；其他請求請寫信給營運小組"
        f" {settings.OPS_NOTIFY_EMAIL}。\n"
        f"完整內容：{public_url.rstrip('/')}/terms"
    )


def sections() -> list[tuple[str, list[str]]]:
    """The full terms and privacy notice for the public page (clause numbers allowed there)."""
    days = settings.RETENTION_DAYS
    return [
        ("使用條款", [
            "本平臺依「臺中市政府公務人員政策參與平臺作業規範」運作。參與者的個人資料、著作權等相關權益，依相關法令保障（作業規範第四點）。",
            "您在本平臺提出的提案、附議、意見與修改，以及權責機關的回應與會議紀錄，臺中市政府得於本平臺公開，"
            "並依「政府資料開放授權條款」以開放資料（JSON、CSV）釋出，供各界重製、改作與利用。您保留著作人格權；"
            "公開時以您選擇的顯示名稱（真實姓名或暱稱）標示。",
            "引用他人著作、數據、圖表或新聞時，請註明出處；請勿張貼您無權利用的內容。",
            "內容有作業規範第七點各款情形（例如侵害他人權利或法律上利益）者，營運小組得隨時移除。"
            "權利人認為內容侵害其權利時，請寫信給營運小組，說明權利內容與受侵害之處；營運小組依第七點第2款審查，"
            "成立者移除並通知提案人。",
        ]),
        ("個人資料告知（個人資料保護法第八條）", [
            "蒐集機關：臺中市政府研究發展考核委員會（本平臺營運小組）。",
            "蒐集目的：公務人員政策參與平臺之營運，包括身分認證、通知、聯繫及統計。",
            "個人資料類別：姓名、暱稱、電話、電子郵件、聯絡地址、所屬機關與服務單位、LINE 使用者識別碼。",
            "利用對象與方式：公開頁面及開放資料只顯示您選擇的名稱；權責機關只看到顯示名稱；電話、電子郵件與地址"
            "僅營運小組於說明事由後可查看，每次查看都記錄查看人、時間與事由。",
            f"保存期間：帳號存續期間。關閉帳號時，真實姓名、電話、電子郵件、地址及與 LINE 帳號的連結立即刪除，"
            f"已發表的內容以顯示名稱保留；聊天原文保存 {days['chat_text']} 日，LINE 事件紀錄 {days['line_events']} 日，"
            f"通知內容 {days['notice_text']} 日、通知收件地址 {days['notice_recipient']} 日，"
            f"未使用的認證碼於失效後 {days['unconfirmed_codes']} 日刪除，關閉帳號的其餘紀錄於關閉後 {days['closed_accounts']} 日刪除。",
            "您的權利：得查詢、閱覽、製給複本、補充或更正、請求停止蒐集、處理或利用及請求刪除（個人資料保護法第三條）。"
            f"在 LINE 的「我的資料」可查看、更正資料及關閉帳號；其他請求請寫信至 {settings.OPS_NOTIFY_EMAIL}。"
            "不提供資料者無法完成身分認證及參與。",
        ]),
    ]


def has_accepted(official: Official) -> bool:
    return official.terms_version == settings.TERMS_VERSION


def require_participant(official: Official | None) -> Official:
    """The guard of proposing, seconding and giving opinions: verified, not blocked, current terms accepted (R4)."""
    official = require_verified(official)
    if not has_accepted(official):
        raise DomainError(MSG["needed"], "terms_needed")
    return official


@transaction
def accept_terms(official: Official, version: str, now: dt.datetime | None = None) -> bool:
    """Record the acceptance of the terms shown (version); True when newly accepted, False if already."""
    now = now or utcnow()
    if version != settings.TERMS_VERSION:
        raise DomainError(MSG["changed"], "terms_changed")
    if has_accepted(official):
        return False
    Official.update(terms_version=version, terms_accepted_at=now).where(Official.id == official.id).execute()
    official.terms_version, official.terms_accepted_at = version, now
    record(official.actor, "terms_accepted", "official", official.id, detail={"version": version}, now=now)
    return True
