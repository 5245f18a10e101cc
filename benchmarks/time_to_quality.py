"""Time to quality from two bench_quality.py JSON reports of the same images:

    python benchmarks/time_to_quality.py FAST.json REFERENCE.json [--markdown]

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

from common import Column, fnum, markdown_table, text_table

from bench_quality import time_to_quality


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fast")
    ap.add_argument("reference")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)
    report = json.loads(Path(a.fast).read_text())
    rows = time_to_quality(report, a.reference)
    cols = [Column("image", "image", 12, str, "<"), Column("target", "reference oracle", 10, fnum(2)),
            Column("ref_s", "reference s to it", 10, fnum(1)),
            Column("s", "fast s to oracle - 0.1 dB", 10, fnum(1)), Column("speedup", "speed-up", 8, fnum(1))]
    print(text_table(cols, rows, separators=[len(rows) - 1]))
    if a.markdown:
        print()
        print(markdown_table(cols, rows, bold_rows=[len(rows) - 1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
