"""One small helper for every stateful model: a table of legal moves, and the move itself.

Each model declares `Transitions(...)` beside it: state -> the states it may move to. A move that
the table does not allow is refused with a `DomainError` (code "bad_transition"), whether it is
checked on a loaded row (`check`) or applied as a conditional update (`move`), which changes only
rows still in a state that may make the move, so two workers racing never both win.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import peewee

from .base import DomainError, kept_statement, quoted, where_clause

_MOVES: dict[tuple, tuple] = {}


class Transitions:
    def __init__(self, name: str, table: Mapping[str, Iterable[str]], labels: Mapping[str, str] | None = None,
                 field: str = "status") -> None:
        self.name = name
        self.table = {state: frozenset(targets) for state, targets in table.items()}
        self.labels = dict(labels or {})
        self.field = field
        unknown = {t for targets in self.table.values() for t in targets} - set(self.table)
        if unknown:
            raise ValueError(f"{name}: targets missing from the table: {sorted(unknown)}")

    def label(self, state: str) -> str:
        return self.labels.get(state, state)

    def allowed(self, current: str, new: str) -> bool:
        return new in self.table.get(current, frozenset())

    def sources(self, new: str) -> set[str]:
        """Every state that may move to `new`."""
        return {state for state, targets in self.table.items() if new in targets}

    def check(self, current: str, new: str) -> None:
        """Refuse an illegal move with a zh-TW domain error."""
        if not self.allowed(current, new):
            raise DomainError(f"{self.name}目前為「{self.label(current)}」，無法改為「{self.label(new)}」。",
                              "bad_transition")

    def move(self, model: type[peewee.Model], where: peewee.Expression, new: str, *,
             from_states: Iterable[str] | None = None, **changes: object) -> int:
        """Move the rows matching `where` to `new`, only those in a state the table lets make that move
        (narrowed to `from_states` if given); returns how many rows moved."""
        sources = self._sources(new, from_states)
        column = getattr(model, self.field)
        return model.update(**{self.field: new}, **changes).where(where & column.in_(sources)).execute()

    def move_row(self, model: type[peewee.Model], row_id: int, new: str, *,
                 from_states: Iterable[str] | None = None, **changes: object) -> int:
        """`move` for one row by its id, with a kept statement (`kept_statement`): the paths every
        event takes (an event done, a notice sent, a code confirmed). Values go through each field's
        `db_value`, as peewee's own update does."""
        sources = self._sources(new, from_states)
        fields = model._meta.fields
        database = model._meta.database
        mark = database.param
        sql = kept_statement(("move_row", model, self.field, new, tuple(sources), tuple(changes), mark), lambda: (
            f'UPDATE "{model._meta.table_name}" SET {", ".join(f"{quoted(fields[f])} = {mark}" for f in (self.field, *changes))}'
            f" WHERE {quoted(model._meta.primary_key)} = {mark}"
            f' AND {quoted(fields[self.field])} IN ({", ".join([mark] * len(sources))})'))
        params = [new, *(fields[f].db_value(value) for f, value in changes.items()), row_id, *sources]
        return database.execute_sql(sql, params).rowcount

    def move_where(self, model: type[peewee.Model], conditions: tuple, values: tuple, new: str) -> int:
        """`move` with a kept statement, for a WHERE of simple comparisons (`models.base.where_clause`):
        a code superseding the official's earlier ones on every tap."""
        sources = self._sources(new, None)
        database = model._meta.database
        mark = database.param
        key = ("move_where", model, self.field, new, tuple((f.name, op) for f, op in conditions), mark)
        entry = _MOVES.get(key)
        if entry is None:
            where, params = where_clause(conditions, mark)
            column = quoted(model._meta.fields[self.field])
            entry = _MOVES[key] = (
                f'UPDATE "{model._meta.table_name}" SET {column} = {mark} WHERE {where}'
                f' AND {column} IN ({", ".join([mark] * len(sources))})', params)
        sql, params = entry
        return database.execute_sql(sql, [new, *params(values), *sources]).rowcount

    def _sources(self, new: str, from_states: Iterable[str] | None) -> list[str]:
        sources = self.sources(new)
        if from_states is not None:
            wanted = set(from_states)
            for state in wanted - sources:
                self.check(state, new)  # a caller asking for a move the table does not have
            sources &= wanted
        return sorted(sources)
