"""What the CLI's commands share: KEY=VALUE overrides, the progress line, strict JSON
reports, and the checks that no output is unwritable or replaces an input. Its own module so
the commands (cli.py, cli_tiled.py, cli_experiments.py, batch.py) import it one way."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .durations import format_clock
from .errors import DIPError


def flag_overrides(a: Any, keys: Sequence[str]) -> dict[str, Any]:
    """Config overrides from the command's flags named ``keys`` (those given) and its --set
    items, which may not name the task or the preset (their own flags do)."""
    overrides = {k: getattr(a, k) for k in keys if getattr(a, k) is not None}
    sets = parse_overrides(a.set)
    for key in ("task", "preset"):
        if key in sets:
            raise DIPError(f"--set {key}=... is not allowed: use --{key}")
    overrides.update(sets)
    return overrides


def parse_overrides(items: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """KEY=VALUE strings -> config overrides; values are JSON where they parse as JSON."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise DIPError(f"{flag} expects KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


class _Progress:
    """A single updating line on a terminal; sparse plain lines otherwise (logs, CI)."""

    def __init__(self, total: int, quiet: bool):
        self.total = total
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.every = max(1, total // 10)

    def update(self, step: int, loss: float, elapsed: float, suggested: tuple[int, float] | None,
               extra: str = "") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        done = step >= self.total
        if self.tty and not done and now - self.last < 0.2:
            return
        if not self.tty and not done and step % self.every:
            return
        self.last = now
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else math.inf
        sug = f"  best {suggested[0]}" if suggested else ""
        line = (f"step {step}/{self.total}  loss {loss:.3e}  {rate:.2f} it/s  "
                f"ETA {format_clock(eta)}{sug}{extra}")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(100)[:140] + ("\n" if done else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _plain(v: Any) -> Any:
    """NumPy scalars/arrays -> Python; NaN and infinity -> None (JSON has no such numbers)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # e.g. the PSNR of an image identical to its reference
    return v


def strict_json(report: dict[str, Any]) -> str:
    """The report as standard JSON: no ``Infinity`` / ``NaN`` tokens (they become null)."""
    return json.dumps(_plain(report), indent=2, allow_nan=False)


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


NAME_MAX = 255          # bytes in one file or folder name on the file systems photos live on
PATH_FLAGS = ("input", "output", "mask", "guide", "reference", "metrics", "classifier", "mask_out")


def check_name_lengths(a: Any) -> None:
    """Every path flag's names fit a file system (``NAME_MAX`` bytes each), said before
    anything is read: the OS would say "[Errno 36] File name too long" somewhere later."""

    for key in PATH_FLAGS:
        value = getattr(a, key, None)
        if not value:
            continue
        path = value.split(":", 1)[-1] if key == "classifier" else value
        for part in Path(path).parts:
            n = len(os.fsencode(part))
            if n > NAME_MAX:
                raise DIPError(f"--{key.replace('_', '-')}: the name {part[:24]}...{part[-8:]} is {n} bytes long; "
                               f"a file or folder name may have {NAME_MAX} at most: shorten it")


def describe_os_error(exc: OSError) -> str:
    """An OSError that escaped the checks, in one line (the name cut short)."""
    name = str(exc.filename) if exc.filename else ""
    if len(name) > 80:
        name = name[:40] + "..." + name[-24:]
    return (exc.strerror or type(exc).__name__) + (f": {name}" if name else "")


def _check_destinations(outputs: list[tuple[str, str, dict[str, str] | None]],
                        inputs: list[tuple[str, str | None]], overwrite: bool) -> None:
    """Before any work: every output can be written (known extension, not a folder, a folder
    that exists and takes a new file), no two outputs collide, and no output replaces an
    input, except ``--output`` over ``--input`` with ``--overwrite``."""
    from . import imageio

    for i, (flag, path, formats) in enumerate(outputs):
        for flag2, path2, _ in outputs[:i]:
            if _same_file(path, path2):
                raise DIPError(f"{flag} and {flag2} are the same file ({path}): give them different names")
        for iflag, ipath in inputs:
            if not ipath or not _same_file(path, ipath):
                continue
            if flag == "--output" and iflag == "--input":
                if overwrite:
                    continue
                raise DIPError(f"--output {path} is the --input file: writing it would replace your original; "
                               f"choose another --output, or add --overwrite")
            raise DIPError(f"{flag} {path} is the {iflag} file: choose another name for {flag}")
        imageio.check_writable(path, {"--mask-out": "mask"}.get(flag, flag.lstrip("-")), formats)


def write_result(path: str | os.PathLike, result: np.ndarray, loaded: Any = None,
                 metrics: tuple[str | os.PathLike, str] | None = None) -> None:
    """A command's result and its metrics (``(path, text)``) written together or not at all
    (engine/imageio.write_all), so a report never describes a file that is not there. The
    result keeps its source's file mode (grey, 16 bits, alpha, ICC profile: ``loaded``)
    where it has the source's size."""
    from . import imageio

    like = loaded if loaded is not None and result.shape[:2] == loaded.array.shape[:2] else None
    writes = [(path, imageio.image_writer(path, result, like=like))]
    if metrics is not None:
        text = metrics[1]
        writes.append((metrics[0], lambda tmp: Path(tmp).write_text(text, encoding="utf-8")))
    imageio.write_all(writes)

