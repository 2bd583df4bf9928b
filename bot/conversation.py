"""Per-user conversation state, stored in the database so a chat can be resumed days later."""
from __future__ import annotations

import json

import peewee

from models.base import BaseModel, row_and_joined, utcnow
from models.officials import Official, official_for_line_user


class ConversationState(BaseModel):
    line_user_id = peewee.CharField(max_length=64, unique=True)
    flow = peewee.CharField(max_length=32, null=True)  # registration | proposing | seconding | profile
    step = peewee.CharField(max_length=32, null=True)
    data = peewee.TextField(default="{}")
    updated_at = peewee.DateTimeField(default=utcnow)

    @property
    def values(self) -> dict:
        try:
            return json.loads(self.data or "{}")
        except ValueError:
            return {}


def load_state(line_user_id: str) -> ConversationState:
    state = ConversationState.get_or_none(ConversationState.line_user_id == line_user_id)
    return state if state is not None else _new_state(line_user_id)


def _new_state(line_user_id: str) -> ConversationState:
    try:
        return ConversationState.create(line_user_id=line_user_id)
    except peewee.IntegrityError:
        return ConversationState.get(ConversationState.line_user_id == line_user_id)


def load_official_and_state(line_user_id: str) -> tuple[Official, ConversationState]:
    """The official behind a LINE account (created on first contact) and their conversation state,
    read in one query when both exist (every event needs both: one statement fewer per event)."""
    official, state = row_and_joined(Official.line_user_id, ConversationState.line_user_id, line_user_id)
    if official is None:
        return official_for_line_user(line_user_id), load_state(line_user_id)
    if state is None:  # none yet (the join found no row): the first event of this user
        state = _new_state(line_user_id)
    return official, state


def set_state(state: ConversationState, flow: str | None, step: str | None, **values) -> None:
    """Move the conversation to `flow`/`step`, merging `values` into its data (None removes a key)."""
    data = state.values if flow == state.flow else {}
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    state.flow, state.step = flow, step
    state.data = json.dumps(data, ensure_ascii=False)
    state.updated_at = utcnow()
    state.save()


def clear_state(state: ConversationState) -> None:
    set_state(state, None, None)


TABLES = [ConversationState]  # added to the schema by the app (webapp/schema.py)
