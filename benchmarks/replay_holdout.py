"""Replay the holdout rule offline on study_noisefree.py logs of inpainting runs with held-out
pixels (``stop_rule=holdout``, ``holdout_shape`` strokes or pixels, ``stop=never``).

    python benchmarks/replay_holdout.py LOG [LOG ...] [--baseline CHANGE_LOG] [--markdown]
        [--patience 100,200] [--ratio 0.25,0.5] [--gain 0,0.02,0.05] [--out FILE]
    python benchmarks/replay_holdout.py --smoke --out PATH   # seconds: a 30-step log of a 48 px case, replayed

For every case: the fill's peak (PSNR of the filled pixels of the moving average, the best
logged step), the visible-change stop (change300 >= 40 dB at a multiple of 75 steps, as
engine/stopping.py ChangeWatch checks; the average there), the bound (the last step), and for
each holdout setting (patience min, ratio, min gain) the step where engine.stopping.BestTracker,
fed every step's held-out error of the moving average exactly as the run feeds it, would stop
and the iterate it would write (the average at its best step: the fill of the nearest logged
row, at most every/2 steps away). ``--baseline``: a log of the same cases without held-out pixels
(the preset's change rule), whose change stop is what runs today.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from common import SMOKE_HELP, write_json

from engine.stopping import BestTracker

CHANGE_N, CHANGE_DB, CHANGE_EVERY = 300, 40.0, 75


def nearest(rows, step):
    return min(rows, key=lambda r: abs(r["step"] - step))


def change_stop(rows):
    for r in rows:
        c = r.get(f"change{CHANGE_N}")
        if r["step"] % CHANGE_EVERY == 0 and c is not None and c >= CHANGE_DB:
            return r, True
    return rows[-1], False


def holdout_stop(vals, patience, ratio, gain):
    """(stop step or None, best step, kind) of BestTracker fed the moving average's score."""
    tr = BestTracker("holdout", patience, ratio, gain)
    for step, _vo, ve in vals:
        if ve is not None and math.isfinite(ve):
            tr.offer(step - 1, "ema", ve)   # the average the step began with (engine/run.py)
        if tr.should_stop(step, 0):
            return step, tr.best[0], tr.best[2]
    b = tr.best
    return None, (b[0] if b else vals[-1][0]), (b[2] if b else "ema")


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def analyse(log, baseline, grid):
    rep = json.loads(Path(log).read_text())
    base = {} if baseline is None else {c["name"]: c for c in json.loads(Path(baseline).read_text())["cases"]}
    out = []
    for c in rep["cases"]:
        rows, vals = c["rows"], c.get("vals") or []
        if not vals:
            continue
        peak = max(rows, key=lambda r: r["fill"])
        bound = rows[-1]
        ch, ch_hit = change_stop(rows)
        vmin = min((v for v in vals if v[2] is not None), key=lambda v: v[2])
        at_vmin = nearest(rows, vmin[0] - 1)
        late = [r for r in rows if r["step"] >= 200 and r["val_ema"] is not None]
        rho = spearman([-r["val_ema"] for r in late], [r["fill"] for r in late]) if len(late) > 2 else None
        info = {"log": rep["label"], "case": c["name"], "note": c.get("holdout_note"),
                "peak_step": peak["step"], "peak_fill": peak["fill"], "peak_whole": peak["ema"],
                "bound_fill": bound["fill"], "bound_whole": bound["ema"], "bound_step": bound["step"],
                "change_step": ch["step"] if ch_hit else None, "change_fill": ch["fill"], "change_whole": ch["ema"],
                "vmin_step": vmin[0] - 1, "vmin_fill": at_vmin["fill"], "rho": rho, "rules": {}}
        b = base.get(c["name"])
        if b is not None:
            bp = max(b["rows"], key=lambda r: r["fill"])
            bc, bhit = change_stop(b["rows"])
            info.update(base_peak_step=bp["step"], base_peak_fill=bp["fill"],
                        base_change_step=bc["step"] if bhit else None, base_change_fill=bc["fill"],
                        base_change_whole=bc["ema"])
        for p, r, g in grid:
            stop, best, kind = holdout_stop(vals, p, r, g)
            row = nearest(rows, best)
            at_stop = nearest(rows, stop) if stop is not None else rows[-1]   # what pick='ema' writes
            info["rules"][(p, r, g)] = {"stop": stop, "best": best, "kind": kind,
                                        "fill": row["fill"], "whole": row["ema"], "stop_fill": at_stop["fill"]}
        out.append(info)
    return out


def fmt(v, d=2):
    return "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))


def table(header, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    else:
        w = [max(len(str(h)), *(len(fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(str(h).rjust(w[i]) for i, h in enumerate(header))]
        lines += ["  ".join(fmt(v).rjust(w[i]) for i, v in enumerate(r)) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="*")
    ap.add_argument("--baseline")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--patience", default="100,200")
    ap.add_argument("--ratio", default="0.25,0.5")
    ap.add_argument("--gain", default="0,0.02,0.05")
    ap.add_argument("--detail", default="100,0.25,0.02;200,0.5,0.02",
                    help="settings (patience,ratio,gain;...) shown per case")
    ap.add_argument("--out", help="the cases and their rules as JSON")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": study_noisefree.py's log of one 48 px "
                    "case with held-out strokes, 30 steps, replayed with short look-aheads")
    a = ap.parse_args(argv)
    if a.smoke:
        a.logs, a.patience, a.detail = [_smoke_log()], "10,20", "10,0.25,0.02;20,0.5,0.02"
    elif not a.logs:
        ap.error("give study_noisefree.py logs (or --smoke)")
    grid = [(int(p), float(r), float(g)) for p in a.patience.split(",") for r in a.ratio.split(",")
            for g in a.gain.split(",")]
    detail = [tuple(t(x) for t, x in zip((int, float, float), s.split(","))) for s in a.detail.split(";")]
    grid += [d for d in detail if d not in grid]
    cases = [i for log in a.logs for i in analyse(log, a.baseline, grid)]

    print(table(["log", "case", "fill peak @", "fill peak", "val min @", "fill @ val min", "rho(val,fill)",
                 "change @", "fill @ change", "fill @ bound", "base change @", "base fill @ change"],
                [[i["log"], i["case"], i["peak_step"], i["peak_fill"], i["vmin_step"], i["vmin_fill"], i["rho"],
                  i["change_step"], i["change_fill"], i["bound_fill"], i.get("base_change_step"),
                  i.get("base_change_fill")] for i in cases], a.markdown))
    print()
    for d in detail:
        print(f"holdout rule: patience {d[0]}, ratio {d[1]}, min gain {d[2]} dB")
        print(table(["log", "case", "stop @", "best @", "writes", "fill dB", "whole dB", "fill @ stop", "vs peak",
                     "vs change (same run)", "vs change (baseline)", "vs bound"],
                    [[i["log"], i["case"], i["rules"][d]["stop"], i["rules"][d]["best"], i["rules"][d]["kind"],
                      i["rules"][d]["fill"], i["rules"][d]["whole"], i["rules"][d]["stop_fill"],
                      i["rules"][d]["fill"] - i["peak_fill"],
                      i["rules"][d]["fill"] - i["change_fill"],
                      None if "base_change_fill" not in i else i["rules"][d]["fill"] - i["base_change_fill"],
                      i["rules"][d]["fill"] - i["bound_fill"]] for i in cases], a.markdown))
        print()
    summary = []
    for log in dict.fromkeys(i["log"] for i in cases):
        mine = [i for i in cases if i["log"] == log]
        for g in grid:
            rs = [i["rules"][g] for i in mine]
            dp = [r["fill"] - i["peak_fill"] for r, i in zip(rs, mine)]
            dc = [r["fill"] - i["change_fill"] for r, i in zip(rs, mine)]
            steps = [r["stop"] or i["bound_step"] for r, i in zip(rs, mine)]
            ch_steps = [i["change_step"] or i["bound_step"] for i in mine]
            summary.append([log, f"{g[0]}/{g[1]}/{g[2]}", float(np.mean(dp)), float(np.min(dp)),
                            float(np.mean(dc)), float(np.min(dc)), float(np.mean(steps)), float(np.mean(ch_steps)),
                            f"{sum(r['stop'] is not None for r in rs)}/{len(rs)}"])
    print(table(["log", "patience/ratio/gain", "mean vs peak", "worst vs peak", "mean vs change", "worst vs change",
                 "mean stop step", "mean change step", "stopped"], summary, a.markdown))
    if a.out:
        write_json(a.out, {"logs": a.logs, "rows": [{**i, "rules": [{"patience": k[0], "ratio": k[1], "gain": k[2],
                                                                      **v} for k, v in i["rules"].items()]}
                                                     for i in cases], "summary": summary})
    return 0


def _smoke_log() -> str:
    """A study_noisefree.py log made here: one tiny inpainting case, held-out strokes, no stop."""
    import atexit
    import os
    import tempfile

    import study_noisefree

    fd, path = tempfile.mkstemp(prefix="replay-smoke-", suffix=".json")
    os.close(fd)
    atexit.register(os.remove, path)
    study_noisefree.main(["--set", "text", "--steps", "30", "--every", "5", "--label", "smoke", "--out", path,
                          "--override", "stop_rule=holdout", "--override", "holdout_shape=strokes", "--smoke-cases"])
    return path


if __name__ == "__main__":
    raise SystemExit(main())
