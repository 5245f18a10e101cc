"""The noise-free cases of issue 14, built the same way by the study and the benchmark.

Three sets, each with photos from the shared datasets *and* photos outside them (scikit-image's
bundled photos, public domain / CC0), so nothing is tuned to the shared sets alone:

- ``text``: text to remove. The paper's figure ``kate.png`` with its own mask (halved to
  256 x 256: a 512 px run of 3000 steps is 20 min on a 2-core CPU), the app's bundled
  ``sample_text.png`` (256 x 192), and astronaut and coffee with text and a scribble drawn here
  (a different text, font size and place from the sample's).
- ``sr``: x4 super-resolution of 128 px centre crops: Set5 and coffee's centre.
- ``drop``: 50 % of the pixels dropped (the Heide11 protocol, grey), 128 px crops: Heide11 and
  astronaut's face in grey (scikit-image's camera man is already in Heide11).

Each case: ``image`` (what the run sees), ``mask`` (True = known), ``reference`` (the clean
image), ``task`` and ``region`` (the pixels whose change the visible-change stop watches and
whose PSNR a user cares about: the unknown ones for inpainting, all for super-resolution).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from common import ROOT, centre_crop, smoke_photo

from bench_quality import image_seed, load_clean, make_case
from engine import degrade
from engine.imageio import from_uint8, load_image, load_mask

SETS = ("text", "sr", "drop")


def resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return from_uint8(np.asarray(Image.fromarray(u8.squeeze()).resize((w, h), Image.LANCZOS)))


def draw_text(clean: np.ndarray, lines: list[tuple[tuple[int, int], str]], size: int,
              scribble: list[tuple[int, int]], ink=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Text (Pillow's default font at ``size`` px) and a 4 px scribble painted in ``ink``;
    the mask (True = known) is the ink grown by one pixel, as the bundled sample's."""
    h, w = clean.shape[:2]
    cover = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(cover)
    font = ImageFont.load_default(size=size)
    for xy, s in lines:
        d.text(xy, s, fill=255, font=font)
    d.line(scribble, fill=255, width=4, joint="curve")
    alpha = from_uint8(np.asarray(cover))[:, :, None]
    out = clean * (1 - alpha) + np.asarray(ink, dtype=np.float32) * alpha
    known = np.asarray(cover.filter(ImageFilter.MaxFilter(3))) == 0
    return out.astype(np.float32), known


def _skimage(name: str) -> np.ndarray:
    from skimage import data
    return from_uint8(getattr(data, name)())


def text_cases(data: Path) -> list[dict[str, Any]]:
    cases = []
    fig = data / "DIP_repo_data" / "inpainting"
    kate = load_image(fig / "kate.png").array[:, :, :3]
    kmask = load_mask(fig / "kate_mask.png", kate.shape[:2])
    h, w = kate.shape[0] // 2, kate.shape[1] // 2
    small = resize(kate, w, h)
    known = kmask[:h * 2, :w * 2].reshape(h, 2, w, 2).all(axis=(1, 3))   # known only if all 4 were
    cases.append(dict(name="kate (figure, 256)", image=small * known[:, :, None], mask=known, reference=small))
    res = ROOT / "resources"
    clean = load_image(res / "sample_clean.png").array
    cases.append(dict(name="sample_text (bundled)", image=load_image(res / "sample_text.png").array,
                      mask=load_mask(res / "sample_text_mask.png", clean.shape[:2]), reference=clean))
    astro = resize(_skimage("astronaut"), 256, 256)
    img, m = draw_text(astro, [((20, 150), "Happy 2026!"), ((30, 200), "12.03 10:42")], 26,
                       [(10, 60), (80, 40), (160, 70), (240, 30)], ink=(1.0, 0.3, 0.1))
    cases.append(dict(name="astronaut + text", image=img * m[:, :, None], mask=m, reference=astro))
    coffee = resize(_skimage("coffee")[:, 50:550], 256, 192)
    img, m = draw_text(coffee, [((14, 10), "MORNING"), ((120, 150), "(c) photo")], 24,
                       [(20, 120), (90, 100), (140, 130), (230, 95)])
    cases.append(dict(name="coffee + text", image=img * m[:, :, None], mask=m, reference=coffee))
    for c in cases:
        c.update(task="inpaint", region=~c["mask"])
    return cases


def sr_cases(data: Path, crop: int = 128, scale: int = 4) -> list[dict[str, Any]]:
    cases = []
    for path in sorted((data / f"Set5_DIP_x{scale}GT").glob("*.png")):   # bench_quality.py's references
        clean = centre_crop(load_clean(path, "superres"), crop, scale)
        c = make_case("superres", clean, image_seed(path.stem, 0), scale)
        cases.append(dict(name=path.stem, **c))
    coffee = centre_crop(_skimage("coffee"), crop, scale)
    hr = degrade.crop_to_multiple(coffee, scale)
    cases.append(dict(name="coffee (outside)", image=degrade.downscale(hr, scale), mask=None, reference=hr))
    for c in cases:
        c.update(task="superres", region=None)
    return cases


def drop_cases(data: Path, crop: int = 128, names: list[str] | None = None) -> list[dict[str, Any]]:
    cases = []
    for path in sorted((data / "Heide11").glob("*.png")):
        if names and path.stem not in names:
            continue
        clean = centre_crop(load_clean(path, "inpaint"), crop)
        cases.append(dict(name=path.stem, **make_case("inpaint", clean, image_seed(path.stem, 0), 1)))
    if not names or "astronaut" in names:
        grey = centre_crop(_skimage("astronaut"), 2 * crop)
        grey = resize(grey, crop, crop)
        grey = (grey[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
        image, mask = degrade.drop_pixels(grey, 0.5, seed=image_seed("astronaut", 0))
        cases.append(dict(name="astronaut (outside)", image=image, mask=mask, reference=grey))
    for c in cases:
        c.update(task="inpaint", region=~np.asarray(c["mask"], bool))
    return cases


def cases_for(which: str, data: Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    if which == "text":
        out = text_cases(data)
    elif which == "sr":
        out = sr_cases(data)
    else:
        return drop_cases(data, names=names)
    return [c for c in out if not names or any(c["name"].startswith(n) for n in names)]


def smoke_cases(which: str) -> list[dict[str, Any]]:
    """One case of the set on a 48 px made-up photo (text and a scribble / x4 from 12 px / half
    the pixels dropped), built as the set's own cases are: for --smoke runs."""
    clean = smoke_photo(7)
    if which == "text":
        image, known = draw_text(clean, [((4, 14), "Hi")], 14, [(2, 40), (24, 30), (46, 38)])
        case = dict(name="smoke + text", image=image * known[:, :, None], mask=known, reference=clean,
                    task="inpaint", region=~known)
    elif which == "sr":
        case = dict(name="smoke x4", image=degrade.downscale(clean, 4), mask=None, reference=clean,
                    task="superres", region=None)
    else:
        image, mask = degrade.drop_pixels(clean, 0.5, seed=image_seed("smoke", 0))
        case = dict(name="smoke drop", image=image, mask=mask, reference=clean, task="inpaint",
                    region=~np.asarray(mask, bool))
    return [case]

