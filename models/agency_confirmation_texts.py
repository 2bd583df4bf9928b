"""What the agency-confirmation flow (R9.2.5) says to staff and agencies, in zh-TW, in one place."""
from __future__ import annotations

MSG = {
    "not_found": "找不到這筆機關確認。",
    "bad_state": "提案目前為「{state}」，只有附議中或已成案的提案需要確認權責機關。",
    "no_agencies": "請至少選擇一個機關。",
    "bad_agency": "找不到機關「{code}」或該機關已停用。",
    "no_contact": "{name}沒有聯絡信箱，請先更新機關資料再寄送確認。",
    "bad_role": "角色必須是主辦或協辦。",
    "twice": "同一機關只能列一次：{name}。",
    "already_asked": "已向{name}寄送過確認請求。",
    "one_lead": "兩個以上機關時，請指定一個主辦機關，其餘為協辦（若仍有爭議請改用「全部列為主辦」）。",
    "need_lead": "至少需要一個主辦機關。",
    "bad_decision": "請選擇：確認為本機關業務、確認並指定所屬機關承辦，或有疑義（非本機關業務）。",
    "not_subordinate": "「{unit}」不是{agency}的所屬（附屬）機關，請從貴機關的所屬機關清單中選擇，或寫明承辦單位名稱；未做任何變更。",
    "unit_required": "請選擇承辦的所屬機關，或寫明承辦單位名稱（第九點（二）5（2））。",
    "discussion_forbidden": "只有營運小組或提出疑義的機關可以參與這項研商。",
    "discussion_closed": "這項研商已協調完成或已不在研商中，不能再新增意見。",
    "withdrawn_token": "營運小組已於 {when} 變更本提案的權責機關，貴機關的確認請求已撤回，無須回覆。如有疑問，請與營運小組（研考會）聯繫。",
    "decline_reason": "請說明不屬於本機關業務的理由。",
    "redirect_target": "請選擇或寫明實際主管業務的所屬機關。",
    "redirect_self": "所屬機關不能是本機關。",
    "answered": "{agency}已於 {when} 回覆「{status}」，不能再次回覆。如有疑義，請與營運小組（研考會）聯繫協調。",
    "deemed": "{agency}未於 {due} 前回覆，依規定已視為確認（第九點（二）5（4））。如有疑義，請與營運小組（研考會）聯繫協調。",
    "not_doubt": "只有「非本機關業務」或「應由所屬機關辦理」的回覆需要協調。",
    "settled": "這筆回覆已於 {when} 協調完成。",
    "bad_outcome": "請選擇協調結果。",
    "bad_token": "這個連結無效（可能不完整或已被修改）。請使用郵件中的完整連結，或登入工作臺回覆。",
    "replaced_token": "這個連結已被較新的確認請求取代，請使用最新郵件中的連結。",
    "expired_token": "這個連結已過期（有效至 {until}）。如需回覆，請與營運小組（研考會）聯繫。",
    "no_roles": "這個提案沒有待確認的機關。",
}

REQUEST_SUBJECT = "【政策參與平臺】請確認權責機關：提案{number}「{title}」"
REQUEST_BODY = """{agency} 承辦同仁您好：

公務人員政策參與平臺的提案{number}「{title}」已通過檢核，營運小組（研考會）請貴機關確認是否為{role}機關（第九點（二）5）。

範圍：{scope}
內容或建議事項：
{content}

請於 {due}（臺北時間 23:59）前，以下列連結回覆（或登入工作臺「機關確認」）：
- 確認為本機關業務：{link}?decision=confirm
- 確認，由本機關所屬（附屬）機關承辦：{link}?decision=subordinate
  （貴機關仍為權責機關，並協調督導該所屬機關辦理，第九點（二）5（2））
- 有疑義（非本機關業務）：{link}?decision=decline

逾期未回覆，依規定視為確認。如有疑義，由營運小組與貴機關共同研商。
{established}"""
DEEMED_SUBJECT = "【政策參與平臺】權責機關已視為確認：提案{number}"
DEEMED_BODY = ("{agency} 承辦同仁您好：\n\n提案{number}「{title}」的權責機關確認請求未於 {due} 前回覆，"
               "依規定視為確認，貴機關為{role}機關（第九點（二）5（4））。如有疑義，請與營運小組（研考會）聯繫。\n")
DOUBT_SUBJECT = "【政策參與平臺】機關回覆需協調：提案{number}"
DOUBT_BODY = ("{agency}回覆提案{number}「{title}」：{decision}。\n{detail}\n"
              "已開啟營運小組與該機關的共同研商，請至工作臺「機關確認」記錄研商意見及協調結果（第九點（二）5（4））。\n")
DISCUSSION_SUBJECT = "【政策參與平臺】權責機關疑義研商：提案{number}"
DISCUSSION_BODY = ("{agency} 承辦同仁您好：\n\n貴機關對提案{number}「{title}」的權責歸屬有疑義，"
                   "依規定由營運小組與貴機關共同研商（第九點（二）5（4））。\n{detail}\n"
                   "請登入工作臺「機關確認」補充研商意見，或與營運小組（{ops}）聯繫；協調結果將以電子郵件通知。\n")
SETTLED_SUBJECT = "【政策參與平臺】權責機關疑義研商結果：提案{number}"
SETTLED_BODY = ("{agency} 承辦同仁您好：\n\n提案{number}「{title}」的權責歸屬經營運小組與貴機關共同研商，"
                "結果：{outcome}。\n說明：{note}\n")
HANDLING_SUBJECT = "【政策參與平臺】承辦通知：提案{number}"
HANDLING_BODY = ("{unit} 承辦同仁您好：\n\n{agency}已確認為提案{number}「{title}」的{role}機關，"
                 "並指定貴機關承辦；{agency}仍為權責機關，負責協調督導（第九點（二）5（2））。"
                 "辦理情形請循{agency}回報。\n")
ESTABLISHED_NOTE = ("\n本提案已成案，回應期限為 {due}（第九點（四）4）；確認後請於期限前公開回應。\n{respond}")
UNASKED_SUBJECT = "【政策參與平臺】尚未請機關確認的提案：{count} 件"
UNASKED_BODY = ("下列提案已通過檢核，但尚無機關受請確認權責（從未寄送，或原機關協調後不辦理、已撤回）。"
                "請至工作臺「提案檢核」寄送機關確認請求（第九點（二）5（1））：\n{lines}\n")
FOOTER = "\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"
