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
        """`move` for one row by its id, with a kept statement (`move_where`): the paths every event
        takes (an event done, a notice sent, a code confirmed)."""
        return self.move_where(model, ((model._meta.primary_key, "="),), (row_id,), new,
                               from_states=from_states, **changes)

    def move_where(self, model: type[peewee.Model], conditions: tuple, values: tuple, new: str, *,
                   from_states: Iterable[str] | None = None, **changes: object) -> int:
        """`move` with a kept statement (`kept_statement`), for a WHERE of simple comparisons
        (`models.base.where_clause`, one value each in `values`): a row by its id, a code superseding
        the official's earlier ones on every tap. Values go through each field's `db_value`, as
        peewee's own update does."""
        sources = self._sources(new, from_states)
        fields = model._meta.fields
        mark = model._meta.database.param

        def write():
            where, params = where_clause(conditions, mark)
            return (f'UPDATE "{model._meta.table_name}"'
                    f' SET {", ".join(f"{quoted(fields[f])} = {mark}" for f in (self.field, *changes))}'
                    f' WHERE {where} AND {quoted(fields[self.field])} IN ({", ".join([mark] * len(sources))})'), params

        sql, params = kept_statement(("move_where", model, self.field, new, tuple(sources), tuple(changes),
                                      tuple((f.name, op) for f, op in conditions), mark), write)
        return model._meta.database.execute_sql(sql, [
            new, *(fields[f].db_value(value) for f, value in changes.items()), *params(values), *sources]).rowcount

    def _sources(self, new: str, from_states: Iterable[str] | None) -> list[str]:
        sources = self.sources(new)
        if from_states is not None:
            wanted = set(from_states)
            for state in wanted - sources:
                self.check(state, new)  # a caller asking for a move the table does not have
            sources &= wanted
        return sorted(sources)
