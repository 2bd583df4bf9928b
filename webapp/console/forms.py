"""Console forms (Flask-WTF): every form carries a CSRF token; labels and messages are zh-TW."""
from __future__ import annotations

from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from models.passwords import MAX_PASSWORD, MIN_PASSWORD
from models.proposals import REMOVAL_GROUNDS, removal_ground_label
from models.staff import MAX_REASON, MIN_REASON

from ..form import Form

REQUIRED = "此欄位必填。"
REASON_LENGTH = f"事由需要 {MIN_REASON} 到 {MAX_REASON} 個字。"


class LoginForm(Form):
    email = EmailField("電子郵件", validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField("密碼", validators=[DataRequired(REQUIRED), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField("登入")


class ReasonForm(Form):
    """An audited action on an official (R4 personal data view, block, unblock) needs a reason."""

    reason = TextAreaField("事由", validators=[DataRequired(REQUIRED), Length(min=MIN_REASON, max=MAX_REASON,
                                                                              message=REASON_LENGTH)],
                           render_kw={"rows": 2, "maxlength": MAX_REASON})


class RevealPersonalDataForm(ReasonForm):
    submit = SubmitField("查看個人資料（將記錄查閱紀錄）")


class BlockForm(ReasonForm):
    """R8: a block rests on a ground of 第七點, the same list the removal of proposals uses."""

    ground = SelectField("停用事由（第七點）", choices=[("", "請選擇")] + [(k, removal_ground_label(k)) for k in REMOVAL_GROUNDS],
                         validators=[DataRequired("請選擇停用所依據的第七點事由。")], validate_choice=False)
    submit = SubmitField("停用此帳號")


class UnblockForm(ReasonForm):
    submit = SubmitField("恢復此帳號")


class VersionedForm(Form):
    """Every action carries the version the staff member saw (two staff at once: one wins)."""

    version = HiddenField()

    @property
    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


class ConsultationSubmitForm(VersionedForm):
    submit = SubmitField("送交營運小組審核")


class ConsultationPassForm(VersionedForm):
    submit = SubmitField("審核通過（機關即可開放徵詢）")


class ConsultationReturnForm(VersionedForm):
    reasons = TextAreaField("退回理由（依第七點、第十點（一），將通知機關）",
                            validators=[DataRequired("此欄位必填。"), Length(min=4, max=1000)],
                            render_kw={"rows": 3, "maxlength": 1000})
    submit = SubmitField("退回修改")


PASSWORD_HINT = f"至少 {MIN_PASSWORD} 個字元；可用好記的長句，不需要符號，但不可是常見密碼。"


class InviteForm(Form):
    email = EmailField("電子郵件", validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"})
    display_name = StringField("顯示名稱", validators=[Optional(), Length(max=40)])
    role = SelectField("身分", choices=[("agency", "權責機關承辦人"), ("ops", "營運小組（研考會）")])
    agency_code = SelectField("機關（權責機關承辦人必填）", choices=[], validate_choice=False)
    submit = SubmitField("寄送邀請")


class StaffReasonForm(ReasonForm):
    submit = SubmitField("確定")


class NewPasswordForm(Form):
    password = PasswordField("新密碼", validators=[DataRequired(REQUIRED), Length(max=MAX_PASSWORD)],
                             description=PASSWORD_HINT, render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("再輸入一次新密碼", validators=[DataRequired(REQUIRED),
                                                    EqualTo("password", message="兩次輸入的密碼不一致。")],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField("設定密碼")


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("目前的密碼", validators=[DataRequired(REQUIRED), Length(max=MAX_PASSWORD)],
                            render_kw={"autocomplete": "current-password"})
    submit = SubmitField("變更密碼")


class ForgotPasswordForm(Form):
    email = EmailField("電子郵件", validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    submit = SubmitField("寄送重設連結")


class CodeForm(Form):
    code = StringField("驗證碼", validators=[DataRequired(REQUIRED), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none",
                                  "spellcheck": "false"})
    submit = SubmitField("驗證")


class BothFactorsForm(Form):
    """A change to one's own two-factor sign-in: the password and a current code (or a recovery code)."""

    password = PasswordField("密碼", validators=[DataRequired(REQUIRED), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField("驗證碼（或一組備用碼）", validators=[DataRequired(REQUIRED), Length(max=20)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none"})


class DiscussionMessageForm(Form):
    """R10.2: write to those who gave opinions (choices: everyone, or one opinion by its number)."""

    # Not checked against the page's list (it may be stale): the domain checks the opinion itself.
    recipient = SelectField("收件對象", validators=[DataRequired(REQUIRED)], validate_choice=False)
    body = TextAreaField("訊息內容（以 LINE 傳送，無 LINE 或傳送失敗時改寄電子郵件）",
                         validators=[DataRequired(REQUIRED), Length(min=4, max=2000)],
                         render_kw={"rows": 4, "maxlength": 2000})
    submit = SubmitField("傳送訊息")


class DiscussionMeetingForm(Form):
    held_on = DateField("會議日期", validators=[DataRequired("請選擇會議日期。")])
    place = StringField("時間及地點", validators=[DataRequired(REQUIRED), Length(max=200)],
                        render_kw={"maxlength": 200, "placeholder": "例如：14:00 臺灣大道市政大樓惠中樓 501 會議室"})
    how_to_join = TextAreaField("參加方式", validators=[DataRequired(REQUIRED), Length(max=1000)],
                                render_kw={"rows": 2, "maxlength": 1000,
                                           "placeholder": "例如：現場出席，或線上會議連結；請於前一日回信報名"})
    submit = SubmitField("安排會議並邀請意見提供者")


class DiscussionSummaryForm(Form):
    summary = TextAreaField("會議紀錄摘要（將公開）", validators=[DataRequired(REQUIRED), Length(min=10, max=4000)],
                            render_kw={"rows": 4, "maxlength": 4000})
    submit = SubmitField("儲存會議紀錄摘要")
