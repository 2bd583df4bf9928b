"""Peewee models and the domain rules that change them.

Tables: `models.schema`. Deadlines: `models.deadlines`. Code purposes: `models.codes`.
Collaborators (links, secrets, Redis, the after-commit hook): `models.services`.
"""
from __future__ import annotations

from .base import BaseModel, DomainError, db

__all__ = ["BaseModel", "DomainError", "db"]
