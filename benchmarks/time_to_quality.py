"""Time to quality from two bench_quality.py JSON reports of the same images:

    python benchmarks/time_to_quality.py FAST.json REFERENCE.json [--markdown] [--out FILE]
    python benchmarks/time_to_quality.py --smoke --out PATH   # seconds: a bench_quality.py --smoke run against itself

For each image in both: the reference run's oracle (e.g. the paper's 128-channel network),
the seconds the reference took to first reach it, and the seconds the fast run took to come
within 0.1 dB of it (its output or moving average, at the preview cadence). bench_quality.py
--ttq-target does the same while it runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import SMOKE_HELP, Column, fnum, markdown_table, text_table, write_json

from bench_quality import time_to_quality


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fast", nargs="?")
    ap.add_argument("reference", nargs="?")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", help="the rows as JSON")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one bench_quality.py --smoke report, "
                    "as both runs")
    a = ap.parse_args(argv)
    if a.smoke:
        a.fast = a.reference = _smoke_report()
    elif not (a.fast and a.reference):
        ap.error("give FAST.json and REFERENCE.json (or --smoke)")
    report = json.loads(Path(a.fast).read_text())
    rows = time_to_quality(report, a.reference)
    cols = [Column("image", "image", 12, str, "<"), Column("target", "reference oracle", 10, fnum(2)),
            Column("ref_s", "reference s to it", 10, fnum(1)),
            Column("s", "fast s to oracle - 0.1 dB", 10, fnum(1)), Column("speedup", "speed-up", 8, fnum(1))]
    print(text_table(cols, rows, separators=[len(rows) - 1]))
    if a.markdown:
        print()
        print(markdown_table(cols, rows, bold_rows=[len(rows) - 1]))
    if a.out:
        write_json(a.out, {"fast": a.fast, "reference": a.reference, "rows": rows})
    return 0


def _smoke_report() -> str:
    import atexit
    import os
    import tempfile

    import bench_quality

    fd, path = tempfile.mkstemp(prefix="ttq-smoke-", suffix=".json")
    os.close(fd)
    atexit.register(os.remove, path)
    if bench_quality.main(["--smoke", "--out", path]) != 0:
        raise SystemExit("bench_quality.py --smoke failed")
    return path


if __name__ == "__main__":
    sys.exit(main())
