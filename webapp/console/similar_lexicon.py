"""The similar-proposal lexicon in the console (ops only, R9.1.4, issue 14): every concept with its
words (the file's and the team's told apart), a filter, a form that adds a word to a concept or starts
a new concept, a remove button on each team word, a trial panel that shows what the search reads
in a title and the similar proposals the bot would show for it (the bot's own search and filter), and
the latest proposals returned as duplicates (R9.2.3), each searched again: the pairs the search should
find, from the platform's own proposals (`models.similar_duplicates`)."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from wtforms import HiddenField, SelectField, StringField, SubmitField

from models import similar, similar_duplicates, similar_index
from models import similar_lexicon_edits as edits
from models.similar_team_words import TOPIC_MAX, WORD_MAX

from ..form import Form
from .actions import act
from .auth import current_staff, ops_required
from .blueprint import bp

NEW_CONCEPT = "__new__"  # the concept choice that starts a new concept
TRIAL_MAX = 80  # characters of a trial title (the proposal form allows 80)
FILTER_MAX = 40


class AddWordForm(Form):
    # The rules (length, characters, already in the lexicon ...) are the domain's: one place, one wording.
    word = StringField("詞語", render_kw={"maxlength": WORD_MAX, "autocomplete": "off"})
    concept = SelectField("所屬概念", choices=[], validate_choice=False)
    new_concept = StringField("新概念的名稱", render_kw={"maxlength": WORD_MAX, "autocomplete": "off"})
    topic = StringField("新概念的主題", render_kw={"maxlength": TOPIC_MAX, "autocomplete": "off", "list": "topics"})
    trial = HiddenField()  # the trial title on the page, shown again after the change
    submit = SubmitField("加入詞庫")


class RemoveWordForm(Form):
    submit = SubmitField("移除")


def _page(form: AddWordForm | None = None, status: int = 200, trial_title: str | None = None):
    rows = edits.concept_rows()
    query = request.args.get("q", "").strip()[:FILTER_MAX]
    title = (trial_title if trial_title is not None else request.args.get("title", "")).strip()[:TRIAL_MAX]
    form = form or AddWordForm(formdata=None, trial=title)
    trial = None
    if title:
        trial = {"matches": similar.shown_before_submitting(title), "reading": similar.read_title(title)}
    return render_template(
        "console/similar_lexicon.html", title="相似提案詞庫", rows=edits.matching(rows, query), all_rows=rows,
        topics=edits.topics(rows), query=query, trial_title=title, trial=trial, form=form,
        new_concept=NEW_CONCEPT, pending=similar_index.pending(), model=similar.vectors.summary(),
        team_count=sum(len(r.team_words) for r in rows), no_topic_label=edits.NO_TOPIC_LABEL,
        duplicates=similar_duplicates.recent(), duplicate_total=similar_duplicates.returned_as_duplicates(),
        recent_limit=similar_duplicates.RECENT), status


def _back(trial_title: str | None):
    return redirect(url_for("console.similar_lexicon", title=trial_title or None))


@bp.get("/similar-lexicon")
@ops_required
def similar_lexicon():
    return _page()


@bp.post("/similar-lexicon")
@ops_required
def similar_lexicon_add():
    form = AddWordForm()
    trial_title = (form.trial.data or "").strip()[:TRIAL_MAX]
    rerender = lambda: _page(form, 400, trial_title)  # noqa: E731 - what was typed stays in the form

    def action() -> str:
        new = form.concept.data == NEW_CONCEPT
        return edits.add_word(current_staff(), form.word.data, form.new_concept.data if new else form.concept.data,
                              new_concept=new, topic=form.topic.data)

    return act(form, action, on_invalid=rerender, on_refused=rerender, done=lambda: _back(trial_title))


@bp.post("/similar-lexicon/<int:word_id>/remove")
@ops_required
def similar_lexicon_remove(word_id: int):
    trial_title = request.form.get("trial", "").strip()[:TRIAL_MAX]
    back = lambda: _back(trial_title)  # noqa: E731
    return act(RemoveWordForm(), lambda: edits.remove_word(current_staff(), word_id), on_invalid=back,
               on_refused=back, done=back)
