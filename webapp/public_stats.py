"""The public dashboard (/stats; INTERFACES.md, issue 12 item 7): charts drawn on the server as SVG
(role="img" with a <title> and <desc>), each beside a table of the same numbers. The figures come
from models.public_stats, which aggregates the open-data records."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from models.calendar import today_taipei
from models.public_stats import OUTCOMES, dashboard

bp = Blueprint("public_stats", __name__)

# Okabe–Ito colours: told apart with colour-blindness; every series is also named in the legend.
COLOURS = {"seconding": "#56B4E9", "lapsed": "#8C8C8C", "established": "#E69F00", "adopt": "#009E73",
           "partial": "#0072B2", "reject": "#D55E00", "removed": "#CC79A7"}
AGENCY_SERIES = [("on_time", "準時回應", "#009E73"), ("late", "逾期回應", "#E69F00"), ("overdue", "逾期未回應", "#D55E00")]
WIDTH = 640
LABEL_W = 200
BAR_H = 22
GAP = 8


def _scale(values: list[int], span: int) -> float:
    top = max(values, default=0)
    return span / top if top else 0.0


def horizontal(rows: list[tuple[str, list[tuple[str, str, int]]]]) -> dict:
    """Stacked horizontal bars: rows of (label, [(series key, colour, value)])."""
    span = WIDTH - LABEL_W - 60
    ratio = _scale([sum(v for _, _, v in parts) for _, parts in rows], span)
    bars = []
    for i, (label, parts) in enumerate(rows):
        y, x, segments = GAP + i * (BAR_H + GAP), LABEL_W, []
        for key, colour, value in parts:
            width = round(value * ratio, 1)
            segments.append({"key": key, "colour": colour, "value": value, "x": x, "width": width})
            x += width
        bars.append({"label": label, "y": y, "segments": segments, "total": sum(v for _, _, v in parts), "end": x})
    return {"bars": bars, "height": GAP + len(rows) * (BAR_H + GAP) + 4, "width": WIDTH, "label_w": LABEL_W,
            "bar_h": BAR_H}


def monthly(months: list[dict]) -> dict:
    """Stacked vertical bars, one per month, one segment per outcome."""
    height, top_pad, bottom = 220, 24, 40
    span = height - top_pad - bottom
    ratio = _scale([m["total"] for m in months], span)
    step = (WIDTH - 40) / max(1, len(months))
    width = min(48.0, step * 0.7)
    columns = []
    for i, month in enumerate(months):
        x = 40 + i * step + (step - width) / 2
        base, segments = height - bottom, []
        for (key, label), value in zip(OUTCOMES, month["counts"], strict=True):
            h = round(value * ratio, 1)
            base -= h
            if value:
                segments.append({"key": key, "label": label, "value": value, "y": round(base, 1), "height": h,
                                 "colour": COLOURS[key]})
        columns.append({"month": month["month"], "x": round(x, 1), "width": round(width, 1), "segments": segments,
                        "total": month["total"], "top": round(base, 1)})
    return {"columns": columns, "height": height, "width": WIDTH, "axis_y": height - bottom}


@bp.get("/stats")
def stats():
    max_age = current_app.config.get("STATS_CACHE_SECONDS", 0 if current_app.testing else 300)
    figures, computed_at = dashboard(current_app.config.get("PUBLIC_BASE_URL", ""), today_taipei(), max_age)
    funnel = horizontal([(f["label"], [(f["key"], "#0072B2", f["count"])]) for f in figures["funnel"]])
    handled = [a for a in figures["agencies"] if a["handled"]]
    agencies = horizontal([(a["agency"], [(key, colour, a[key]) for key, _, colour in AGENCY_SERIES]) for a in handled])
    return render_template("public/stats.html", figures=figures, outcomes=OUTCOMES, colours=COLOURS,
                           monthly=monthly(figures["months"]), funnel=funnel, agency_chart=agencies,
                           agency_series=AGENCY_SERIES, computed_at=computed_at)
