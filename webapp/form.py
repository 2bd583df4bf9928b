"""The one base of every form: WTForms' own messages in zh-TW.

Most fields carry messages written for them, but WTForms adds a few of its own: a choice that is not in
the list (「不是有效的選擇。」, which a stale page meets when an agency was renamed since it loaded), a date
or a number it cannot read. Flask-WTF translates them only through Flask-Babel, which this service
does not use, so they came out in English. WTForms ships a zh_TW catalogue; this base reads it.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.meta import DefaultMeta


class Form(FlaskForm):
    class Meta:
        locales = ("zh_TW",)

        def get_translations(self, form):
            # Flask-WTF's own lookup returns None without Flask-Babel; WTForms' reads `locales`.
            return DefaultMeta.get_translations(self, form)
