"""Shared helpers of the benchmark scripts: paths, the run's environment, tables, JSON.

The scripts are run as files (``python benchmarks/bench_quality.py``), so this module
also puts the project root on ``sys.path`` for ``import engine``.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT / ".." / "shared" / "datasets"
OUT_DIR = ROOT / "benchmarks" / "out"
NA = "n/a"


class BenchError(Exception):
    """A problem with the benchmark's inputs; the script prints it on one line and exits 2."""


# ------------------------------------------------------------------------------ data

def data_dir(override: str | None) -> Path:
    """The datasets folder (``--data`` or ../shared/datasets next to the project root)."""
    p = Path(override).expanduser() if override else DEFAULT_DATA
    p = p.resolve()
    if not p.is_dir():
        hint = "" if override else " (the default is ../shared/datasets beside the project root)"
        raise BenchError(f"datasets folder {p} not found{hint}: pass --data FOLDER")
    return p


def list_images(folder: Path) -> list[Path]:
    exts = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in exts), key=lambda p: p.stem.lower())


def select_images(folder: Path, names: str | None) -> list[Path]:
    """All images of ``folder``, or those named (stems, any case) in a comma list, in that order."""
    if not folder.is_dir():
        raise BenchError(f"image set folder {folder} not found")
    files = list_images(folder)
    if not files:
        raise BenchError(f"no images in {folder}")
    if not names:
        return files
    by_stem = {p.stem.lower(): p for p in files}
    chosen = []
    for n in (s.strip() for s in names.split(",")):
        if not n:
            continue
        key = Path(n).stem.lower()
        if key not in by_stem:
            raise BenchError(f"no image '{n}' in {folder.name}: choose from {', '.join(p.stem for p in files)}")
        chosen.append(by_stem[key])
    if not chosen:
        raise BenchError("--images names no image")
    return chosen


def centre_crop(img: Any, size: int | None, multiple: int = 1) -> Any:
    """The centre ``size`` x ``size`` crop (each side at most the image's), both sides rounded
    down to ``multiple``; ``size`` None keeps the image and rounds its sides only."""
    h, w = img.shape[:2]
    ch = h if size is None else min(size, h)
    cw = w if size is None else min(size, w)
    ch, cw = (ch // multiple) * multiple, (cw // multiple) * multiple
    if ch < 1 or cw < 1:
        raise BenchError(f"a crop of {size} leaves nothing of a {w}x{h} image at multiple {multiple}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw].copy()


# ------------------------------------------------------------------------------ smoke runs

SMOKE_HELP = ("seconds, not minutes: tiny made-up images, a few steps, nothing read from ../shared "
              "(tests/test_bench_smoke.py runs it, so the script cannot rot unseen)")
SMOKE_SIDE = 48


def smoke_photo(seed: int, h: int = SMOKE_SIDE, w: int = SMOKE_SIDE) -> Any:
    """A made-up clean colour photo (float32 H x W x 3 in [0, 1]): smooth shading, a disc's
    sharp edge and fine stripes, so a restoration has edges and texture to keep; another
    seed, another picture."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / h, x / w
    a, b, c = rng.random(3)
    img = np.stack([0.25 + 0.5 * a * x, 0.7 - 0.4 * b * y, 0.45 + 0.2 * np.sin(7 * x + 6 * c)], -1)
    cy, cx = 0.3 + 0.4 * rng.random(2)
    disc = (y - cy) ** 2 + (x - cx) ** 2 < 0.06
    img[disc] = 0.3 * img[disc] + 0.55
    img += (0.06 * np.sin(2 * np.pi * (5 + 3 * a) * (x + y)))[:, :, None]
    return np.clip(img, 0, 1).astype(np.float32)


def smoke_data(sets: Sequence[str], n: int = 2, side: int = SMOKE_SIDE) -> Path:
    """A datasets folder for --smoke: each of ``sets`` a folder of ``n`` made-up photos
    (smoke1.png, smoke2.png, ...), in a temporary folder removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    from engine.imageio import save_image

    root = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    atexit.register(shutil.rmtree, root, True)
    for k, name in enumerate(sets):
        (root / name).mkdir(parents=True)
        for i in range(n):
            save_image(root / name / f"smoke{i + 1}.png", smoke_photo(100 * k + i, side, side))
    return root


def megapixel_photo(mp: float) -> tuple[Any, str]:
    """A photo outside the shared sets at ``mp`` megapixels (uint8 H x W x 3): scikit-image's
    astronaut (public domain), upscaled to a 4:3 frame; and where it came from, in words."""
    import numpy as np
    from PIL import Image
    from skimage import data

    src = data.astronaut()
    h, w = src.shape[:2]
    s = (mp * 1e6 / (h * w)) ** 0.5
    big = Image.fromarray(src).resize((int(w * s * 4 / 3), int(h * s * 3 / 4)), Image.LANCZOS)
    return np.asarray(big), "astronaut (scikit-image, public domain), upscaled"


# ------------------------------------------------------------------------------ environment

def environment(device: str | None = None) -> dict[str, Any]:
    """Versions, machine and date: what a number in the JSON needs next to it."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
    }
    if device is not None:
        env["device"] = device
    return env


def package_version(name: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


# ------------------------------------------------------------------------------ tables

@dataclass
class Column:
    key: str
    title: str
    width: int
    fmt: Callable[[Any], str] = str
    align: str = ">"   # numbers right, names left ("<")


def parse_override(text: str) -> tuple[str, Any]:
    """KEY=VALUE, the value as JSON or, failing that, as plain text (lr_schedule=cosine)."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def fnum(digits: int = 2) -> Callable[[Any], str]:
    def f(v: Any) -> str:
        if v is None:
            return NA
        if isinstance(v, str):
            return v
        if isinstance(v, float) and math.isinf(v):
            return "inf"
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        return f"{v:.{digits}f}"
    return f


def fint(v: Any) -> str:
    return NA if v is None else (v if isinstance(v, str) else f"{int(v):d}")


def fat(value_key: str, step_key: str, digits: int = 2) -> Callable[[dict], str]:
    """A 'value @step' cell from two keys of the row (the column's own key is unused)."""
    num = fnum(digits)

    def f(row: dict) -> str:
        if value_key not in row:
            return ""
        v, s = row.get(value_key), row.get(step_key)
        if v is None:
            return NA
        return num(v) if s is None else f"{num(v)} @{int(s)}"
    return f


def _cell(col: Column, row: dict) -> str:
    if col.key == "*":           # the formatter reads the whole row
        return col.fmt(row)
    if col.key not in row:
        return ""
    return col.fmt(row[col.key])


def text_table(columns: Sequence[Column], rows: Sequence[dict], separators: Sequence[int] = ()) -> str:
    """Fixed-width columns; a rule under the header and before each row index in ``separators``."""
    cells = [[_cell(c, r) for c in columns] for r in rows]
    widths = [max([c.width, len(c.title)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(vals: Sequence[str]) -> str:
        out = []
        for v, c, w in zip(vals, columns, widths):
            out.append(v.ljust(w) if c.align == "<" else v.rjust(w))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line([c.title for c in columns]), rule]
    for i, row in enumerate(cells):
        if i in separators:
            lines.append(rule)
        lines.append(line(row))
    return "\n".join(lines)


def markdown_table(columns: Sequence[Column], rows: Sequence[dict], bold_rows: Sequence[int] = ()) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    head = "| " + " | ".join(esc(c.title) for c in columns) + " |"
    align = "|" + "|".join(":---" if c.align == "<" else "---:" for c in columns) + "|"
    lines = [head, align]
    for i, r in enumerate(rows):
        vals = [esc(_cell(c, r)) for c in columns]
        if i in bold_rows:
            vals = [f"**{v}**" if v else v for v in vals]
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ JSON

def _clean(obj: Any) -> Any:
    """Strict JSON: inf/nan become strings, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else "-inf" if obj < 0 else "nan"
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (pretty, strict JSON) atomically, creating the folder."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(_clean(payload), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, p)
    return p


def mean(values: Sequence[Any]) -> float | None:
    """Mean of the finite numbers among ``values``; None if one is missing (so a partial
    average is never shown as if it were over the whole set)."""
    if not values or any(v is None or isinstance(v, str) for v in values):
        return None
    vals = [float(v) for v in values]
    if not all(math.isfinite(v) for v in vals):
        return None
    return sum(vals) / len(vals)


def fmt_seconds(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m}m{sec:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
