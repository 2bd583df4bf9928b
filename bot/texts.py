"""zh-TW chat text of the bot (one place)."""

WELCOME = ("歡迎加入「臺中市政府公務人員政策參與平臺」！\n"
           "在這裡您可以提出創新政策提案、附議同仁的提案。\n"
           "第一次使用需要完成身分認證（約 2 分鐘）：填寫聯絡資料並確認您的公務電子郵件。")
WELCOME_BACK = "歡迎回來！您已完成身分認證，可以從下方選單開始。"
START_REGISTRATION = "開始註冊"
HELP_LABEL = "平臺說明"
ONLY_ONE_TO_ONE = "為保護個人資料，本平臺只在一對一聊天中服務。請直接加入官方帳號並私訊我們。"
UNSUPPORTED_MESSAGE = "目前只能處理文字訊息與按鈕。請輸入文字，或輸入「選單」查看可以做的事。"
STICKER_REPLY = "收到貼圖了 😊 請輸入文字，或輸入「選單」查看可以做的事。"
UNCLEAR_WHILE_CODE = "抱歉，我不太確定您的意思。"
UNKNOWN_INPUT = "抱歉，我不太懂這個訊息。輸入「選單」查看可以做的事。"
# What 取消 keeps, per flow (say only what was really kept).
CANCELLED = {
    "registration": "已暫停註冊。您已填寫的註冊資料都保留著，之後點「繼續註冊」即可接著完成。",
    "proposing": "已暫停撰寫提案。提案草稿已自動儲存，之後從「提出提案」或「我的提案」即可繼續。",
    "consulting": "已取消。尚未送出的意見沒有保留；已送出的意見不受影響。",
    "profile": "已取消修改，您的資料沒有變更。",
    "seconding": "已取消搜尋。",
    None: "目前沒有進行中的操作。",
}
CANCELLED_TAIL = "輸入「選單」查看可以做的事。"
REGISTRATION_IN_PROGRESS = "您正在註冊，已填寫 {done}/{total} 項，資料都保留著。點「繼續註冊」完成後即可提案與附議。"
CONTINUE_REGISTRATION = "繼續註冊"
MENU_TITLE = "請選擇要做的事："
HELP = ("【使用說明】\n"
        "・提出提案：對本府的政策、法令或措施提出創新建議；營運小組於 {review}內檢核。\n"
        "・附議提案：檢核通過的提案在 {seconding}內需 {threshold} 份有效附議才成案；附議需以電子郵件認證碼確認，確認後無法撤回。\n"
        "・成案後，權責機關於 {response}內回應並公開於平臺。\n"
        "・政策諮詢：機關就政策徵詢意見，您可在期間內提供意見。\n"
        "・您的電話、地址與電子郵件不會公開；公開時只顯示您選擇的名稱。\n"
        "隨時輸入「選單」回到主選單，輸入「取消」暫停目前的操作。")
NEED_REGISTRATION = "請先完成身分認證。"

REG_ASK_NAME = "請輸入您的真實姓名（例如：王小明）。\n個人資料僅供營運小組聯繫使用，不會公開。"
REG_ASK_NICKNAME = "請輸入您的暱稱（最多 20 字，例如：西屯小幫手）。"
REG_ASK_DISPLAY = "發言時要以哪個名稱顯示？（另一個名稱不會公開）"
REG_DISPLAY_REAL = "以真實姓名顯示"
REG_DISPLAY_NICK = "以暱稱顯示"
REG_ASK_PHONE = "請輸入您的聯絡電話（手機或市話皆可，例如 0912-345-678 或 04-2228-9111#123）。"
REG_ASK_EMAIL = "請輸入您的公務電子郵件（例如 name@taichung.gov.tw），我們會寄送認證碼到這個信箱。"
REG_ASK_ADDRESS = "請輸入您的聯絡地址（例如：臺中市西屯區臺灣大道三段99號）。"
REG_ASK_AGENCY = ("請輸入您所屬機關的名稱或關鍵字（例如：研考會、西屯區公所、教育局）。\n"
                  "所屬機關是市府一級機關或區公所；學校請選教育局。您服務的單位（學校、科、課）在下一步填寫。")
REG_AGENCY_CHOOSE = "找到以下機關，請點選您的所屬機關；若都不是，請輸入其他關鍵字。"
REG_ASK_UNIT = ("請輸入您服務的單位（例如：豐原國中、民政課、人事室、第三分局）。\n"
                "所屬機關：{agency}")
REG_UNIT_SUGGESTED = "\n可直接點選「{unit}」。"
REG_AGENCY_MORE = "\n（還有其他符合的機關沒有列出，可輸入更完整的名稱，例如「西屯區公所」。）"
REG_SUMMARY = ("請確認您的註冊資料：\n"
               "姓名：{real_name}\n暱稱：{nickname}\n公開顯示：{display}\n電話：{phone}\n"
               "電子郵件：{email}\n地址：{address}\n所屬機關：{agency}\n所屬單位：{unit}\n\n"
               "資料正確請按「確認送出」，我們將寄送認證碼到您的電子郵件；要修改請點選欄位。")
REG_CONFIRM = "確認送出"
REG_CODE_SENT = ("認證碼已寄到 {email}（有效 {minutes} 分鐘，至 {expires} 止）。\n"
                 "請在這裡輸入 6 位數認證碼，或回覆那封郵件並在內容寫上認證碼。")
RESEND_CODE = "重新寄送認證碼"
SECONDING_LIST = "附議列表"
REG_CHANGE_EMAIL = "修改電子郵件"
REG_ALREADY_VERIFIED = "您已完成身分認證（{email}）。如需更改電子郵件或聯絡資料，請點選「我的資料」。"

PROFILE_SUMMARY = ("您的資料（僅您本人與營運小組可見）：\n"
                   "姓名：{real_name}\n暱稱：{nickname}\n公開顯示：{display}\n電話：{phone}\n"
                   "電子郵件：{email}\n地址：{address}\n所屬機關：{agency}\n所屬單位：{unit}")
PROFILE_UPDATED = "已更新。"
PROFILE_NAME_CHANGE_NOTE = ("提醒：顯示名稱會套用到您所有已公開的提案與意見。若改為以真實姓名顯示，"
                            "過去以暱稱發表的內容也會顯示真實姓名。")
PROFILE_CLOSE_ASK = ("確定要關閉帳號嗎？\n"
                     "・您的真實姓名、電話、電子郵件、地址及與這個 LINE 帳號的連結會立即刪除，無法復原。\n"
                     "・您已發表的提案、附議與意見會保留，以「{name}」顯示。\n"
                     "・關閉後不能再提案、附議或提供意見；日後要再參與，需重新註冊。")
PROFILE_CLOSE_CONFIRM = "確認關閉帳號"
PROFILE_CLOSED = ("您的帳號已關閉，聯絡資料已刪除；已發表的內容以「{name}」保留。我們也寄了一封確認信到原本的信箱。"
                  "謝謝您的參與，日後如要再使用，請點選「開始註冊」。")
PROFILE_CLOSE_STALE = "這個按鈕已過期。如要關閉帳號，請再從「我的資料」點選「關閉帳號」。"
PROFILE_EMAIL_PENDING = "新的電子郵件需要認證後才會生效；在此之前仍使用原本的 {email}。"

FIELD_LABELS = {
    "real_name": "姓名", "nickname": "暱稱", "display_choice": "顯示方式", "phone": "電話",
    "email": "電子郵件", "address": "地址", "agency_code": "所屬機關", "unit": "所屬單位",
}
