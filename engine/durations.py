"""Durations in words: the one rule for every time the program prints or shows.

An estimate, an ETA and a measured time are all read by a person at a glance, so they are
rounded as far as that reading deserves ('40 s', '3 min', '1.5 h', '4 days'); the exact
seconds go to the metrics JSON. The app's panel (app/settings_format.py) words its
estimates the same way.
"""
from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """'40 s', '3 min', '1.5 h', '4 days'; '--' for a time not known (an ETA before the
    first step: infinite or NaN)."""
    s = float(seconds)
    if not math.isfinite(s):
        return "--"
    s = max(0.0, s)
    if s < 10:
        return f"{max(1, round(s))} s"
    if s < 57.5:
        return f"{round(s / 5) * 5} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = s / 3600
    if hours < 10:
        return f"{max(1.0, round(hours * 2) / 2):g} h"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(s / 86400)} days"


def format_clock(seconds: float) -> str:
    """'0:05', '12:40', '1:02:03': a time counted to the second (an ETA, a photo's elapsed
    time), where :func:`format_duration` rounds an estimate; '--' for a time not known."""
    s = float(seconds)
    if not math.isfinite(s):
        return "--"
    s = int(max(0.0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
