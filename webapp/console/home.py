"""The console home."""
from __future__ import annotations

from flask import render_template

from .auth import staff_required
from .blueprint import bp


@bp.get("/")
@staff_required
def home():
    """The dashboard: who is logged in and where they can go."""
    return render_template("console/home.html")
