"""Every table the service uses: the domain's schema (`models.schema`) and the bot's conversation state."""
from __future__ import annotations

from bot import conversation
from models import schema
from models.base import BaseModel


def all_tables() -> list[type[BaseModel]]:
    return schema.all_models(extra=conversation.TABLES)


def create_schema() -> None:
    """Create every missing table and index, then apply in-place upgrades (idempotent)."""
    schema.create_tables(extra=conversation.TABLES)
