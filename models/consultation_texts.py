"""What the consultation flow (R5.2, R8.1, R10) says to staff, agencies and officials, in zh-TW, in one place."""
from __future__ import annotations

from . import settings

MSG = {
    "not_found": "找不到這個政策諮詢。",
    "forbidden": "您只能處理自己機關的政策諮詢。",
    "stale": "這個政策諮詢剛剛已被其他人處理，請重新整理後再確認。",
    "bad_transition": "政策諮詢目前為「{state}」，無法改為「{new}」。",
    "bad_agency": "請選擇有效的機關。",
    "bad_scope": "請從三個範圍中選擇一個（第六點）。",
    "bad_basis": "請選擇諮詢依據（第十點（一）1、2 或 3）。",
    "bad_stage": "請選擇政策階段：形成、執行或評估（第五點（二））。",
    "no_closes_on": "請選擇徵詢的最後一天。",
    "closes_too_soon": "徵詢的最後一天必須在開放日（{open}）之後。",
    "closes_too_late": ("每一政策討論期程以 {consultation}為限（第十點（一）4）：{open} 開放，最後一天最晚為 {max}，"
                        "不能訂為 {chosen}。"),
    "not_open": "政策諮詢目前為「{state}」，不接受意見。",
    "not_reviewed": "政策諮詢須經營運小組審核通過後才能開放（第八點）；目前為「{state}」。請先送交審核。",
    "not_draft": "只有草稿可以送交審核；目前為「{state}」。",
    "not_in_review": "這個政策諮詢目前為「{state}」，不在審核中。",
    "ops_only": "只有營運小組可以審核政策諮詢（第八點）。",
    # R8.1 review notices
    "review_ops_subject": "【政策參與平臺】政策諮詢待審核：{title}",
    "review_ops_body": ("{agency}送交政策諮詢「{title}」（{number}）待審核。請依第七點及第十點（一）"
                        "（諮詢依據、範圍、期程）於 {review_due} 前（{consultation_review}）完成審核。\n工作臺：{console}\n"),
    "passed_subject": "【政策參與平臺】政策諮詢審核通過，可開放徵詢：{title}",
    "passed_body": ("{agency} 承辦同仁您好：\n\n貴機關的政策諮詢「{title}」（{number}）已經營運小組審核通過，"
                    "請於工作臺選擇最後一天後開放徵詢（以 {consultation}為限）。\n工作臺：{console}\n"),
    "returned_subject": "【政策參與平臺】政策諮詢退回修改：{title}",
    "returned_body": ("{agency} 承辦同仁您好：\n\n貴機關的政策諮詢「{title}」（{number}）經營運小組審核，需要修改：\n"
                      "{reasons}\n\n請於工作臺修改草稿後再送交審核。\n工作臺：{console}\n"),
    "review_overdue_subject": "【政策參與平臺】政策諮詢審核逾期：{title}",
    "review_overdue_body": ("政策諮詢「{title}」（{number}，{agency}）應於 {review_due} 前完成審核（R8.1），"
                            "目前尚未處理，請至工作臺審核。\n工作臺：{console}\n"),
    "still_open": "政策諮詢仍在徵詢中，結束後才能公布綜整回應（第十點（二））。",
    "ended": "這個政策諮詢已於 {ends} 結束，無法再提供或修改意見。",
    "too_many": "每個政策諮詢每人最多提出 {n} 則意見。",
    "not_own": "只能修改自己提出的意見。",
    "opinion_hidden": "這則意見已被隱藏，無法修改。",
    "opinion_not_found": "找不到這則意見。",
    "bad_ground": "請選擇第七點的隱藏事由。",
    "already_hidden": "這則意見已於 {when} 隱藏。",
    "extended_once": "綜整回應期限已延長過一次（至 {until}），依規定不得再延長（第十點（二））。",
    "extend_expired": "綜整回應期限已於 {due} 屆滿，延長須於期限屆滿前提出（第十點（二））。",
    # notices
    "closed_agency_subject": "【政策參與平臺】政策諮詢已結束，請於 {due} 前公布綜整回應：{title}",
    "closed_agency_body": ("{agency} 承辦同仁您好：\n\n貴機關的政策諮詢「{title}」（{number}）已於 {closed} 結束，"
                           "共收到 {count} 則意見。\n依作業規範第十點（二），請於 {due} 前於平臺公布綜整回應；"
                           "如未能於期限內完成，得於期限屆滿前延長一次（不超過 {summary_extension}），並敘明理由。\n\n"
                           "諮詢頁面：{link}\n工作臺：{console}\n"),
    "closed_official_subject": "【政策參與平臺】您參與的政策諮詢已結束：{title}",
    "closed_official_body": ("您提供意見的政策諮詢「{title}」（{agency}）已於 {closed} 結束，共收到 {count} 則意見。\n"
                             "機關將於 {due} 前公布綜整回應，公布時我們會通知您。\n諮詢頁面：{link}"),
    "summary_official_subject": "【政策參與平臺】政策諮詢綜整回應已公布：{title}",
    "summary_official_body": ("您提供意見的政策諮詢「{title}」，{agency}已公布綜整回應：\n\n{excerpt}\n\n"
                              "完整內容：{link}"),
    "hidden_subject": "【政策參與平臺】您的意見已被隱藏：{title}",
    "hidden_body": ("您在政策諮詢「{title}」提出的意見已被隱藏。\n事由：{ground} {ground_label}\n說明：{reason}\n\n"
                    "如有疑問，請聯絡營運小組（研考會）。"),
    "overdue_subject": "【政策參與平臺】政策諮詢綜整回應逾期：{title}",
    "overdue_body": ("政策諮詢「{title}」（{number}，{agency}）已於 {closed} 結束，綜整回應應於 {due} 前公布"
                     "（第十點（二）），目前尚未公布，請儘速至工作臺公布。\n工作臺：{console}\n"),
}
MSG = {key: settings.fill(text) for key, text in MSG.items()}
FOOTER = "\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"
