"""Console forms (Flask-WTF): every form carries a CSRF token; labels and messages are zh-TW."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from models.staff import MAX_REASON, MIN_REASON

REQUIRED = "此欄位必填。"
REASON_LENGTH = f"事由需要 {MIN_REASON} 到 {MAX_REASON} 個字。"


class LoginForm(FlaskForm):
    email = EmailField("電子郵件", validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField("密碼", validators=[DataRequired(REQUIRED), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField("登入")


class ReasonForm(FlaskForm):
    """An audited action on an official (R4 personal data view, block, unblock) needs a reason."""

    reason = TextAreaField("事由", validators=[DataRequired(REQUIRED), Length(min=MIN_REASON, max=MAX_REASON,
                                                                              message=REASON_LENGTH)],
                           render_kw={"rows": 2, "maxlength": MAX_REASON})


class RevealPersonalDataForm(ReasonForm):
    submit = SubmitField("查看個人資料（將記錄查閱紀錄）")


class BlockForm(ReasonForm):
    submit = SubmitField("停用此帳號")


class UnblockForm(ReasonForm):
    submit = SubmitField("恢復此帳號")


class VersionedForm(FlaskForm):
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
