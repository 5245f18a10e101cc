"""Make the bundled sample images (run once; the outputs are committed).

    .venv/bin/python resources/make_samples.py

Needs scikit-image (for its bundled photo) besides the engine. See resources/README.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine.degrade import add_noise  # noqa: E402
from engine.imageio import from_uint8, save_image, save_mask  # noqa: E402

# 256 x 192 (W x H): both multiples of 64, so every preset's network takes it uncropped,
# and small enough for a CPU to show progress within seconds
TOP, LEFT, H, W = 64, 110, 192, 256


def clean_crop() -> np.ndarray:
    """Chelsea the cat (skimage.data.chelsea, CC0): eyes, fur and whiskers in one crop."""
    photo = data.chelsea()  # 300 x 451 x 3 uint8
    return from_uint8(photo[TOP:TOP + H, LEFT:LEFT + W])


def overlay_text(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Large text and a thick scribble to remove; returns (image, mask True = known)."""
    cover = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(cover)
    font = ImageFont.load_default(size=30)
    draw.text((12, 18), "DEEP IMAGE", fill=255, font=font)
    draw.text((40, 130), "PRIOR 2018", fill=255, font=font)
    draw.line([(10, 100), (70, 80), (130, 110), (190, 85), (246, 105)], fill=255, width=5, joint="curve")
    alpha = from_uint8(np.asarray(cover))[:, :, None]
    ink = np.array([1.0, 0.95, 0.2], dtype=np.float32)  # yellow: stands out on the fur
    out = img * (1.0 - alpha) + ink * alpha
    # one pixel more than the ink so no anti-aliased fringe is left as "known"
    grown = np.asarray(cover.filter(ImageFilter.MaxFilter(3)))
    return out.astype(np.float32), grown == 0


def main() -> None:
    clean = clean_crop()
    save_image(HERE / "sample_clean.png", clean)
    save_image(HERE / "sample_noisy.png", add_noise(clean, 25, seed=0))
    text, mask = overlay_text(clean)
    save_image(HERE / "sample_text.png", text)
    save_mask(HERE / "sample_text_mask.png", mask)
    for name in ("sample_clean.png", "sample_noisy.png", "sample_text.png", "sample_text_mask.png"):
        f = HERE / name
        print(f"{name}: {Image.open(f).size} {f.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
