"""The console home."""
from __future__ import annotations

from flask import render_template

from models import calendar_years

from .auth import current_staff, staff_required
from .blueprint import bp


@bp.get("/")
@staff_required
def home():
    """The dashboard: who is logged in and where they can go; for the team, office calendars to confirm (R2.3)."""
    unconfirmed = calendar_years.years_to_confirm() if current_staff().is_ops else []
    return render_template("console/home.html", unconfirmed_years=unconfirmed)
