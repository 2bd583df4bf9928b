"""Figures and the verdict of bench/surge.py."""
from __future__ import annotations

import json
import math

BIN = 5.0  # seconds of taps per latency bin (recovery)


def percentiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return {"n": len(values), "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": values[-1]}


def recovery(tapped: dict[int, float], lat: dict[int, float], fault: dict, faults: list[dict], limit: float) -> dict:
    """From the fault's end until the taps' p99 is back under `limit`: the first 5 s bin of taps from
    which every bin up to the next fault (at most 30 s on) keeps p99 under it."""
    later = [f["start"] for f in faults if f["start"] > fault["start"]]
    horizon = min(later + [max(tapped.values(), default=fault["end"])])
    bins: list[tuple[float, dict]] = []
    t = fault["start"]
    while t < horizon:
        values = [lat[i] for i, at in tapped.items() if t <= at < t + BIN]
        if values:
            bins.append((t, percentiles(values)))
        t += BIN
    worst = max((b["p99"] for _, b in bins), default=0.0)
    for k, (start, _) in enumerate(bins):
        ahead = [b for s, b in bins[k:] if s < start + 30]
        if all(b["p99"] < limit for b in ahead):
            return {"recovery_s": round(max(0.0, start - fault["end"]), 1), "worst_bin_p99_s": _num(worst)}
    return {"recovery_s": None, "worst_bin_p99_s": _num(worst)}


def _num(value: float):
    return None if math.isinf(value) else round(value, 2)


def _fmt(stats: dict) -> str:
    return (f"n={stats['n']} p50 {_num(stats['p50'])} s, p95 {_num(stats['p95'])} s, p99 {_num(stats['p99'])} s, "
            f"max {_num(stats['max'])} s")


def problems(check: dict) -> list[str]:
    out = []
    for mail, count in check["doubled_code_emails"].items():
        out.append(f"official {mail}: {count} code emails for one tap")
    for mail in check["lost_taps"]:
        out.append(f"official {mail}: tap accepted, no code email (lost)")
    for mail in check["not_counted"]:
        out.append(f"official {mail}: confirmation accepted, second not counted (lost)")
    for mail in check["counted_unconfirmed"]:
        out.append(f"official {mail}: second counted without an accepted confirmation")
    for mail, count in check["doubled_seconds"].items():
        out.append(f"official {mail}: second counted {count} times (doubled)")
    if check["second_count"] is not None and check["second_count"] != check["second_rows"]:
        out.append(f"proposal second_count {check['second_count']} != second rows {check['second_rows']}")
    return out


def print_check(check: dict) -> None:
    print(f"  taps {check['taps']} (refused after retries {check['taps_refused']}); code emails "
          f"{check['code_emails']} for {check['officials_with_code']} officials; doubled "
          f"{len(check['doubled_code_emails'])}; taps without a code {len(check['lost_taps'])}")
    print(f"  confirmations accepted {check['confirmations']} {check['confirmations_by']}; seconds counted "
          f"{check['second_count']} (rows {check['second_rows']}); not counted {len(check['not_counted'])}; "
          f"doubled {len(check['doubled_seconds'])}")
    print(f"  confirm outcomes {check['confirm_outcomes']}; events {check['events']}; outbox {check['outbox']}")


def print_report(report: dict) -> int:
    """Prints the figures; returns the exit status (1 when anything was lost or doubled)."""
    bad: list[str] = []
    print(f"surge: {report['cpus']} CPUs, load average before {report['load_before']}, "
          f"after {report.get('load_after')}")
    if "cpu_s" in report:
        print(f"  CPU seconds over {report['wall_s']} s of wall clock (2 CPUs = {2 * report['wall_s']:.0f}): "
              + ", ".join(f"{k} {v}" for k, v in report["cpu_s"].items()))
    if "burst" in report:
        b = report["burst"]
        print(f"  burst N={b['n']}: taps sent in {b['taps_s']} s; last code mailed {b.get('last_code_s')} s "
              f"({b.get('codes_per_s')} codes/s, target >= 100); last second counted {b.get('last_second_s')} s "
              f"({b.get('officials_per_s')} officials/s, target >= 80)")
        print_check(b["check"])
        bad = problems(b["check"])
    elif "find_rate" in report:
        for step in report["find_rate"]["steps"]:
            print(f"  {step['rate']:g} taps/s: {_fmt(step)}")
        print(f"  highest sustained rate with p99 < 10 s: {report['find_rate']['highest_rate_p99_under_10s']} taps/s")
    else:
        print_check(report)
        t0 = report["load_start"]
        for fault in report["faults"]:
            print(f"  fault {fault['name']}: +{fault['start'] - t0:.0f} s .. +{fault['end'] - t0:.0f} s")
        lat = report["latency"]
        print(f"  tap -> code email, all: {_fmt(lat['all'])}")
        print(f"    outside fault windows: {_fmt(lat['outside'])}   (target p99 < 10 s)")
        print(f"    inside ({lat['window']}): {_fmt(lat['inside'])}")
        for rec in report["recovery"]:
            print(f"  recovery after {rec['fault']}: {rec['recovery_s']} s (worst 5 s bin p99 "
                  f"{rec['worst_bin_p99_s']} s; target < 60 s)")
        for rec in report.get("smtp_recovery", []):
            print(f"  {rec['fault']}: {rec['retried_mails']} mails failed and were retried, the last sent "
                  f"{rec['last_retry_sent_s']} s after the sink came back (target < 60 s); taps without a code "
                  f"when it came back {rec['held_up']} (never arrived {rec['never_arrived']}), the last code "
                  f"{rec['recovery_s']} s after (includes the event backlog)")
        if "retap" in report:
            print(f"  lost taps tapped again: {report['retap']}")
        bad = problems(report)
        if report.get("retap") and report["retap"]["got_code"] == report["retap"]["retapped"]:
            # Events lost with a SIGKILLed PostgreSQL are reported, and each official got a code on tapping again.
            bad = [p for p in bad if "no code email" not in p]
    print(json.dumps(report, default=str)[:20000])
    for line in bad:
        print("LOST/DOUBLED: " + line)
    return 1 if bad else 0
