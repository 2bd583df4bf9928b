"""Recognition figures in the console (R11), operations team only.

`/console/recognition?year=YYYY` shows, per proposer, the year's proposals submitted, passed review,
established and adopted (wholly or partly), and whether the proposer agreed to be recommended for
an award; `/console/recognition.csv` downloads the same table. Only display names appear (R3.0, R4).
"""
from __future__ import annotations

import csv
import io

from flask import Response, render_template, request

from models.calendar import today_taipei
from models.recognition import annual_figures
from webapp.public import csv_safe

from .auth import ops_required
from .blueprint import bp

FIRST_YEAR = 2018  # the regulation (作業規範) dates from 2018-07-12
CSV_COLUMNS = [
    ("display_name", "顯示名稱"), ("agency", "服務機關"), ("submitted", "提案數"), ("passed_review", "通過檢核"),
    ("established", "成案"), ("adopted", "同意參採"), ("partly_adopted", "部分參採"), ("consent", "是否同意推薦獎勵"),
    ("adopted_proposals", "參採提案編號"), ("eligible", "可簽報獎勵"),
]


def _year() -> int:
    this_year = today_taipei().year
    try:
        year = int(request.args.get("year", this_year))
    except ValueError:
        return this_year
    return year if FIRST_YEAR <= year <= this_year + 1 else this_year


@bp.get("/recognition")
@ops_required
def recognition():
    """R11: the year's per-proposer figures, for the operations team to decide awards."""
    year = _year()
    return render_template("console/recognition.html", year=year, rows=annual_figures(year),
                           years=list(range(today_taipei().year, FIRST_YEAR - 1, -1)), title=f"獎勵參考（{year} 年）")


@bp.get("/recognition.csv")
@ops_required
def recognition_csv():
    """The same table as CSV (UTF-8 with BOM, for spreadsheets)."""
    year = _year()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for row in annual_figures(year):
        values = {
            "display_name": row.display_name, "agency": row.agency, "submitted": row.submitted,
            "passed_review": row.passed_review, "established": row.established, "adopted": row.adopted,
            "partly_adopted": row.partly_adopted, "consent": row.consent_label,
            "adopted_proposals": ";".join(str(i) for i in row.adopted_proposals), "eligible": "是" if row.eligible else "",
        }
        writer.writerow([csv_safe(values[key]) for key, _ in CSV_COLUMNS])
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=recognition-{year}.csv"})
