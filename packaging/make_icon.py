"""Draw DIP Studio's icon: resources/icon.svg and resources/icon.png (256 px), from one
geometry, so the two agree. Drawn here from scratch (no third-party artwork): the project's
licence applies.

A photo, noisy on the left and restored on the right, under the curve DIP is known by: the
error to the clean image falls, reaches its best iterate (the orange dot) and rises again as
the network starts to copy the noise.

Run once from the project root (needs numpy and Pillow, which the app installs):
    python packaging/make_icon.py
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources"
SIZE = 256
BG, BG_RADIUS = (0x22, 0x30, 0x4F), 44
PIC, PIC_RADIUS = (30, 30, 226, 226), 18
CELL = 14                                   # the noisy half's pixel size
TOP, BOTTOM = (110, 170, 230), (240, 200, 130)   # the photo: sky to warm ground
DOT, DOT_RADIUS = (0xFF, 0x8C, 0x1A), 15
CURVE_WIDTH, SHADOW_WIDTH = 11, 19


def _curve() -> list[tuple[float, float]]:
    # error over the steps: high, a valley at the best iterate, rising again
    return [(x, 58 + 128 * math.exp(-((x - 138) / 58) ** 2) - 0.12 * max(0, x - 138))
            for x in range(40, 219, 4)]


def _best() -> tuple[float, float]:
    return max(_curve(), key=lambda p: p[1])


def _colour(y: float) -> tuple[int, int, int]:
    t = (y - PIC[1]) / (PIC[3] - PIC[1])
    return tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM))


def _noise_cells() -> list[tuple[int, int, tuple[int, int, int]]]:
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = PIC
    mid = (x0 + x1) // 2
    cells = []
    for y in range(y0, y1, CELL):
        for x in range(x0, mid, CELL):
            base = np.array(_colour(y + CELL / 2), float)
            c = np.clip(base + rng.normal(0, 48, 3), 0, 255).round().astype(int)
            corners = ((x, y), (min(x + CELL, mid), y), (x, min(y + CELL, y1)))
            if all(_in_picture(*p) for p in corners):   # the rounded corners stay smooth (no clip path:
                cells.append((x, y, tuple(int(v) for v in c)))   # Qt's SVG renderer ignores one)
    return cells


def _in_picture(x: float, y: float) -> bool:
    x0, y0, x1, y1 = PIC
    r = PIC_RADIUS
    cx, cy = min(max(x, x0 + r), x1 - r), min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _hex(c) -> str:
    return "#%02x%02x%02x" % tuple(c)


def svg() -> str:
    x0, y0, x1, y1 = PIC
    mid = (x0 + x1) // 2
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in _curve())
    bx, by = _best()
    cells = "\n".join(f'    <rect x="{x}" y="{y}" width="{min(CELL, mid - x)}" height="{min(CELL, y1 - y)}" '
                      f'fill="{_hex(c)}"/>' for x, y, c in _noise_cells())
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}">
  <title>DIP Studio</title>
  <defs>
    <linearGradient id="photo" x1="0" y1="{y0}" x2="0" y2="{y1}" gradientUnits="userSpaceOnUse">
      <stop offset="0" stop-color="{_hex(TOP)}"/><stop offset="1" stop-color="{_hex(BOTTOM)}"/>
    </linearGradient>
  </defs>
  <rect x="4" y="4" width="{SIZE - 8}" height="{SIZE - 8}" rx="{BG_RADIUS}" fill="{_hex(BG)}"/>
  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{PIC_RADIUS}" fill="url(#photo)"/>
{cells}
  <rect x="{mid - 2}" y="{y0}" width="4" height="{y1 - y0}" fill="#ffffff"/>
  <polyline points="{pts}" fill="none" stroke="{_hex(BG)}" stroke-opacity="0.55" stroke-width="{SHADOW_WIDTH}"
            stroke-linecap="round" stroke-linejoin="round"/>
  <polyline points="{pts}" fill="none" stroke="#ffffff" stroke-width="{CURVE_WIDTH}"
            stroke-linecap="round" stroke-linejoin="round"/>
  <circle cx="{bx:.1f}" cy="{by:.1f}" r="{DOT_RADIUS}" fill="{_hex(DOT)}" stroke="#ffffff" stroke-width="5"/>
</svg>
"""


def png(scale: int = 4) -> Image.Image:
    """The same drawing with Pillow at ``scale`` times the size, then reduced (anti-aliasing)."""
    s = SIZE * scale
    x0, y0, x1, y1 = (v * scale for v in PIC)
    mid = (x0 + x1) // 2
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((4 * scale, 4 * scale, s - 4 * scale, s - 4 * scale), BG_RADIUS * scale, fill=BG)
    photo = Image.new("RGB", (x1 - x0, y1 - y0))
    rows = np.array([_colour(y0 / scale + (r + 0.5) / scale) for r in range(y1 - y0)], np.uint8)
    photo = Image.fromarray(np.repeat(rows[:, None, :], x1 - x0, axis=1))
    pd = ImageDraw.Draw(photo)
    for x, y, c in _noise_cells():
        pd.rectangle(((x - PIC[0]) * scale, (y - PIC[1]) * scale,
                      min(x + CELL, mid // scale) * scale - x0 - 1, min(y + CELL, PIC[3]) * scale - y0 - 1), fill=c)
    pd.rectangle((mid - x0 - 2 * scale, 0, mid - x0 + 2 * scale - 1, y1 - y0), fill=(255, 255, 255))
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, photo.size[0] - 1, photo.size[1] - 1), PIC_RADIUS * scale, fill=255)
    img.paste(photo, (x0, y0), mask)
    pts = [(x * scale, y * scale) for x, y in _curve()]
    shadow = Image.new("RGBA", img.size, (0, 0, 0, 0))
    _polyline(ImageDraw.Draw(shadow), pts, SHADOW_WIDTH * scale, BG + (140,))
    img = Image.alpha_composite(img, shadow)
    d = ImageDraw.Draw(img)
    _polyline(d, pts, CURVE_WIDTH * scale, (255, 255, 255, 255))
    bx, by = (v * scale for v in _best())
    r, ring = DOT_RADIUS * scale, 2.5 * scale
    d.ellipse((bx - r - ring, by - r - ring, bx + r + ring, by + r + ring), fill=(255, 255, 255, 255))
    d.ellipse((bx - r + ring, by - r + ring, bx + r - ring, by + r - ring), fill=DOT + (255,))
    return img.resize((SIZE, SIZE), Image.LANCZOS)


def _polyline(d: ImageDraw.ImageDraw, pts, width: float, fill) -> None:
    w = round(width)
    d.line(pts, fill=fill, width=w, joint="curve")
    for x, y in (pts[0], pts[-1]):   # round caps
        d.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=fill)


def main() -> None:
    (OUT / "icon.svg").write_text(svg(), encoding="utf-8")
    png().save(OUT / "icon.png", optimize=True)
    print(f"wrote {OUT / 'icon.svg'} and {OUT / 'icon.png'}")


if __name__ == "__main__":
    main()
