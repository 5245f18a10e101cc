"""A batch on the terminal: the progress lines (the same whichever executor ran the unit:
they come from the same events) and the summary table."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

from .durations import format_clock

if TYPE_CHECKING:
    from .units import WorkUnit


class BatchPrinter:
    """``batch`` is the engine/batch.py Batch it prints for (its entries, counts, ETA), typed
    loosely so that this room never imports the batch back."""

    def __init__(self, batch: Any, quiet: bool, stream: TextIO):
        self.b = batch
        self.quiet = quiet
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0
        self.open_line = False

    def line(self, text: str) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _prefix(self, name: str, unit: int, count: int) -> str:
        c = self.b.counts()
        n = len(self.b.entries)
        where = f" tile {unit + 1}/{count}" if count > 1 else ""
        return f"[{c['done'] + c['skipped'] + c['failed'] + 1}/{n}] {name}{where}" if n > 1 else f"{name}{where}"

    def progress(self, p: dict) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        best = f"  best {p['best']}" if p.get("best") else ""
        text = (f"{self._prefix(p['name'], p['unit'], p['count'])}  step {p['step']}/{p['total']}{best}  "
                f"loss {p['loss']:.3e}  batch ETA {format_clock(self.b.eta())}")
        if self.tty:
            self.stream.write("\r" + text.ljust(110)[:150])
            self.open_line = True
            self.stream.flush()
        else:
            self.line(text)

    def unit_done(self, e: Any, wu: WorkUnit, info: dict) -> None:
        if self.quiet:
            return
        if e.units > 1:
            self.line(f"{self._prefix(e.name, wu.unit.index, e.units)}  done at step {info.get('steps')}  "
                      f"({e.units_done}/{e.units} units of it done)")

    def image(self, e: Any) -> None:
        if self.quiet and e.status != "failed":
            return
        if e.status == "done":
            steps = f"step {e.steps[0]}" if len(e.steps) == 1 else f"{len(e.steps)} units"
            self.line(f"wrote {e.output} ({steps}, {format_clock(e.seconds)})")
        elif e.status == "skipped":
            self.line(f"skipped {e.name}: {e.reason}")
        elif e.status == "failed":
            self.line(f"failed {e.name}: {e.reason}")

    def summary(self) -> None:
        b = self.b
        if not b.entries or (b.single and not b.interrupted):
            return
        rows = [("image", "status", "steps", "time", "note")]
        for e in b.entries:
            steps = "" if not e.steps else (str(e.steps[0]) if len(e.steps) == 1
                                            else f"{min(e.steps)}-{max(e.steps)} ({len(e.steps)} units)")
            time_s = format_clock(e.seconds) if e.status == "done" else ""
            rows.append((e.name, e.status, steps, time_s, e.reason))
        widths = [min(40, max(len(r[i]) for r in rows)) for i in range(4)]
        out = [("  ".join(str(r[i])[:40].ljust(widths[i]) for i in range(4)) + "  " + r[4]).rstrip() for r in rows]
        c = b.counts()
        wall = time.monotonic() - b._t0
        tail = f"{len(b.entries)} photos: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed"
        if c["interrupted"]:
            tail += f", {c['interrupted']} interrupted"
        self.line("\n".join(out) + "\n" + tail + f" in {format_clock(wall)}" + (
            "; interrupted: run the same command again to resume" if b.interrupted else ""))
