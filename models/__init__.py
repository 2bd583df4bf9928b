"""Peewee models and the domain rules that change them.

Every model module is imported here so `all_models()` and `create_tables()` see the whole schema.
"""
from __future__ import annotations

import importlib

from .base import BaseModel, DomainError, db  # noqa: F401

MODEL_MODULES = [
    "models.agencies",
    "models.calendar",
    "models.calendar_years",
    "models.officials",
    "models.verification",
    "bot.conversation",
    "models.outbox",
    "models.events",
    "models.staff",
    "models.proposals",
    "models.agency_confirmation",
    "models.seconds",
    "models.responses",
    "models.recognition",
    "models.consultations",
    "models.month_clocks",  # no tables: its calendar listener corrects month clocks (R2.3)
]


def all_models() -> list[type[BaseModel]]:
    """Every table, in an order that satisfies foreign keys."""
    found: list[type[BaseModel]] = []
    for name in MODEL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for model in getattr(module, "MODELS", []):
            if model not in found:
                found.append(model)
    return found


def create_tables() -> None:
    """Create every missing table and index (idempotent), then apply in-place upgrades."""
    from .base import is_postgres

    if is_postgres():
        db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    db.create_tables(all_models(), safe=True)
    from .migrations import apply_upgrades

    apply_upgrades()
    from .similar import ensure_search_index

    ensure_search_index()  # PostgreSQL: the similar-proposal key column and its GIN index (R9.1.4)
