"""What seconding (R9.3) says to officials, proposers and agencies, in zh-TW, in one place."""
from __future__ import annotations

from . import settings

MSG = {
    "not_found": "找不到這個提案。",
    "not_open": "提案目前為「{state}」，不在附議期間，無法附議。",
    "closed": "提案的附議期間已於 {ends} 結束，無法再附議。",
    "closed_on_confirm": ("提案{number}「{title}」的附議期間已於 {ends} 結束，這組認證碼已失效，"
                          "您的附議未被計入。"),
    "not_open_on_confirm": "提案{number}「{title}」目前為「{state}」，已不接受附議，您的附議未被計入。",
    "own": "這是您提出（或共同提出）的提案；附議需由其他同仁提出，因此無法附議自己的提案。",
    "already": "您已附議過這個提案（附議一經確認即無法撤回），不需要再附議。",
    "counted": "✅ 附議完成！提案{number}「{title}」目前有 {count} / {threshold} 份有效附議。",
    "counted_established": "\n🎉 這份附議讓提案達到 {threshold} 份附議門檻，提案正式成案！",
    "counted_after": "\n本提案已成案，您的附議仍會計入附議人數。",
    "counted_notify": "\n提案成案或未成案時，我們會通知您。",
    "wrong_codes": "認證碼輸入錯誤次數過多，為保護您的帳號，請 1 小時後再試。",
    "pending_what": "附議提案{number}「{title}」",
    "mail_subject": "【政策參與平臺】附議認證碼：提案{number}",
    "mail_what": ("您正在附議提案{number}「{title}」（權責機關：{agency}）。\n"
                  "附議一經確認即無法撤回；輸入或回覆認證碼後，附議才算數。"),
    # R9.3.3 notices
    "est_seconder_subject": "【政策參與平臺】您附議的提案已成案：{title}",
    "est_seconder_body": ("您附議的提案{number}「{title}」已達 {threshold} 份附議，於 {when} 成案。\n"
                          "權責機關將於通知後 {response}內回應（第九點（四）4）。\n提案頁面：{link}"),
    "notice_proposer_subject": "【政策參與平臺】您的提案已成案：{title}",
    "notice_proposer_body": ("恭喜！您的提案{number}「{title}」已於 {when} 達到 {threshold} 份有效附議，正式成案。\n"
                             "我們已通知權責機關（{agencies}），機關應於 {due} 前回應（第九點（四）4）。\n提案頁面：{link}"),
    "notice_agency_subject": "【政策參與平臺】提案成案通知，請於 {due} 前回應：提案{number}「{title}」",
    "notice_agency_body": ("{agency} 承辦同仁您好：\n\n"
                           "公務人員政策參與平臺的提案{number}「{title}」已於 {when} 達到 {threshold} 份有效附議而成案"
                           "（作業規範第九點（三）2、3）。\n"
                           "依第九點（四），請貴機關研議並於 {due} 前提出具體回應（同意參採、部分參採或不予採納，並敘明理由）；"
                           "如需延長，得延長一次，以 {response_extension}為限，並公開說明理由。\n\n"
                           "提案內容：{link}\n"
                           "\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"),
    "notice_no_contact_subject": "【政策參與平臺】成案通知無法寄送給機關：提案{number}",
    "notice_no_contact_body": ("提案{number}「{title}」已成案，但權責機關「{agency}」沒有聯絡信箱，"
                               "請營運小組轉知並於平臺後台補上機關信箱。機關應於 {due} 前回應。"),
    "lapse_proposer_subject": "【政策參與平臺】提案未成案：{title}",
    "lapse_proposer_body": ("您的提案{number}「{title}」附議期間已於 {ends} 結束，"
                            "共獲得 {count} 份有效附議，未達 {threshold} 份門檻，依規定未成案（第九點（三）2）。\n"
                            "感謝您的參與，歡迎修正構想後再次提案。\n提案頁面：{link}"),
    "lapse_seconder_subject": "【政策參與平臺】您附議的提案未成案：{title}",
    "lapse_seconder_body": ("您附議的提案{number}「{title}」附議期間已於 {ends} 結束，"
                            "共獲得 {count} 份有效附議，未達 {threshold} 份門檻，未成案。感謝您的參與。\n提案頁面：{link}"),
}
MSG = {key: settings.fill(text) for key, text in MSG.items()}
