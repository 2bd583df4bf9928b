"""zh-TW text the domain rules show to officials and staff (one place, per STYLE.md)."""
import re

# A clause of the regulation as the console and emails cite it: （第九點（二）4）, 依作業規範第十一點，
_CLAUSE_IN_PARENS = re.compile(r"（(?:依)?(?:作業規範)?第[一二三四五六七八九十]+點(?:[^（）]|（[^（）]*）)*）")
_CLAUSE_ITEM_WORDS = re.compile(r"第[一二三四五六七八九十]+點第[0-9]+款（([^（）]*)）")  # 第七點第3款（words）
_CLAUSE_INLINE = re.compile(r"(?:依據?)?(?:作業規範)?第[一二三四五六七八九十]+點(?:（[一二三四五六七八九十]+）|[0-9]+|第[0-9]+款|、)*[，,]?")


def without_clauses(text: str) -> str:
    """The text as a chat shows it: no clause numbers (they stay in the console, emails and pages)."""
    text = _CLAUSE_ITEM_WORDS.sub(r"\1", text or "")
    return _CLAUSE_INLINE.sub("", _CLAUSE_IN_PARENS.sub("", text))

INVALID_CHARS = "「{field}」含有控制字元或不可見字元（例如零寬或方向控制字元），請重新輸入。"
TOO_SHORT = "「{field}」至少需要 {n} 個字。"
TOO_LONG = "「{field}」最多 {n} 個字，您輸入了 {got} 個字，請精簡後再送出。"
UNIT_BAD_SYMBOLS = "所屬單位不可包含 < > \" ' ` { } \\ 等符號或網址。"
NAME_BAD_SYMBOLS = "名稱不可包含 < > \" ' ` { } \\ 等符號或網址。"
PHONE_INVALID = ("電話格式不正確。請輸入手機（例如 0912-345-678）或含區碼的市話"
                 "（例如 04-2228-9111，分機可寫成 04-2228-9111#123）。")
EMAIL_INVALID = "電子郵件格式不正確，請輸入例如 name@taichung.gov.tw 的地址。"
EMAIL_NOT_GOV = "僅限政府機關電子郵件（{domains}）註冊，請改用您的公務信箱。"
EMAIL_TAKEN = "這個電子郵件已由另一個 LINE 帳號完成認證，無法重複使用。若您更換了 LINE 帳號，請聯絡營運小組（研考會）協助。"
NOT_VERIFIED = "請先完成身分認證（註冊並確認電子郵件）才能使用這項功能。請點選「開始註冊」。"
BLOCKED = ("您的帳號已暫停使用，事由已以 LINE 訊息及電子郵件通知您。"
           "如有異議，請寫信到營運小組（研考會）{ops} 說明理由。")
REGISTRATION_DONE = "✅ 電子郵件認證完成！您已可以提案與附議。請從下方選單開始。"
EMAIL_CHANGED_DONE = "✅ 新的電子郵件已完成認證並生效。"

CODE_MAIL_SUBJECT = "【臺中市政府公務人員政策參與平臺】電子郵件認證碼"
CODE_MAIL_BODY = """{name} 您好：

{what}
您的認證碼是：{code}

請在 LINE 對話中輸入這 6 位數字，或回覆本郵件、在回覆內容中寫上這 6 位數字，完成確認。
（只回覆而沒有寫上認證碼不會生效，以免他人冒用您的信箱。）
認證碼有效期限 {minutes} 分鐘，至 {expires}（臺北時間）止。

如果這不是您本人的操作，請忽略本郵件。

臺中市政府公務人員政策參與平臺
"""
CODE_COOLDOWN = ("認證碼剛寄到 {email}，請先查看信箱（也請看看垃圾郵件匣）。"
                 "如仍未收到，{seconds} 秒後可以再按「重新寄送認證碼」。")
CODE_NONE_PENDING = "目前沒有等待確認的認證碼。"
CODE_EXPIRED = "認證碼已過期，請要求重新寄送。"
CODE_WRONG = "認證碼不正確，還可以再試 {left} 次。"
CODE_LOCKED = "認證碼錯誤次數過多，這組認證碼已失效。請要求重新寄送新的認證碼。"
CODE_REPLY_UNAUTHENTICATED = "回覆郵件未通過寄件者驗證（DMARC），未予確認。"
CODE_REPLY_WITHOUT_CODE = "回覆郵件中沒有認證碼，未予確認。請在回覆內容中寫上 6 位數認證碼，或直接在 LINE 輸入。"
CODE_REPLY_WRONG_CODE = "回覆郵件中的認證碼與寄出的不同，未予確認。"
CODE_UNKNOWN_TOKEN = "找不到這封郵件對應的認證請求。"
CODE_WRONG_SENDER = "回覆的寄件地址與收到認證碼的地址不同，未予確認。"
CODE_ALREADY_CONFIRMED = "這組認證碼已經確認過了。"
CODE_ALREADY_TYPED = "這組認證碼已在 {at} 確認過了，不需要再輸入。"
CODE_NOT_PENDING = "這組認證碼已失效，請要求重新寄送。"
CODE_SUPERSEDED = ("這是較早寄出的認證碼：我們已在 {sent} 寄出新的認證碼到 {email}，舊的認證碼已失效。"
                   "請使用最新一封郵件中的認證碼（在這裡輸入，或回覆最新那封郵件）。")
CODE_PENDING_REGISTER = "認證您的電子郵件 {email}"
CODE_REMINDER = ("您有一組認證碼還沒確認：{what}。\n"
                 "認證碼已寄到 {email}（有效至 {expires}）。請在這裡輸入郵件中的 6 位數認證碼，"
                 "或回覆那封郵件並在內容寫上認證碼。沒收到信可以按「重新寄送認證碼」。")
CODE_NEWER_CONFIRMED = "您已用較新的認證碼完成確認，不需要再回覆這封較早的郵件。"
CODE_FORMAT = ("認證碼是 6 位數字，您輸入的是 {digits} 位數字，請對照郵件再輸入一次"
               "（這次不算在錯誤次數內）。")
