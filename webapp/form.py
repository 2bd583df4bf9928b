"""The one base of every form: WTForms' own messages in zh-TW.

Most fields carry messages written for them, but WTForms adds a few of its own: a choice that is not in
the list, a date or a number it cannot read. Flask-WTF translates them only through Flask-Babel, which
this service does not use, so they came out in English. WTForms ships a zh_TW catalogue; this base reads
it, with the choice messages reworded for what causes them here: a page loaded before its list changed
(an agency renamed or closed since), which a reload mends.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.meta import DefaultMeta

STALE_CHOICE = "這個選項已不在清單中（清單可能在您開啟頁面後更新過），請重新整理頁面後再選一次。"
REWORDED = {
    "Not a valid choice.": STALE_CHOICE,
    "Invalid Choice: could not coerce.": STALE_CHOICE,  # 「無效的選擇：無法強制轉化。」 in the catalogue
    "Invalid choice(s): one or more data inputs could not be coerced.": STALE_CHOICE,
}
REWORDED_PLURAL = {"'%(value)s' is not a valid choice for this field.": "「%(value)s」" + STALE_CHOICE}


class _Reworded:
    """WTForms' zh_TW catalogue, but for the messages in REWORDED."""

    def __init__(self, catalogue) -> None:
        self.catalogue = catalogue

    def gettext(self, string: str) -> str:
        return REWORDED.get(string) or self.catalogue.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return REWORDED_PLURAL.get(singular) or self.catalogue.ngettext(singular, plural, n)


class Form(FlaskForm):
    class Meta:
        locales = ("zh_TW",)

        def get_translations(self, form):
            # Flask-WTF's own lookup returns None without Flask-Babel; WTForms' reads `locales`.
            return _Reworded(DefaultMeta.get_translations(self, form))
