"""Which photos a batch restores: a folder, a glob pattern or a list file; their result
names and their masks (the rules engine/batch.py applies before anything is planned)."""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .errors import DIPError

LIST_SUFFIXES = (".txt", ".lst")
GLOB_CHARS = "*?["


def is_batch_input(spec: str | None) -> bool:
    """A folder, a glob pattern or a list file (.txt/.lst), as opposed to one photo."""
    if not spec:
        return False
    p = Path(spec)
    if p.is_dir():
        return True
    if p.suffix.lower() in LIST_SUFFIXES and p.is_file():
        return True
    return any(c in spec for c in GLOB_CHARS) and not p.exists()



def _is_image_name(p: Path) -> bool:
    from .imageio import OPEN_EXTENSIONS
    return p.suffix.lower() in OPEN_EXTENSIONS and not p.name.startswith(".")


def _drop_masks(paths: list[Path]) -> list[Path]:
    """Masks lying beside their photos are not photos to restore."""
    from .imageio import MASK_SUFFIXES

    stems = {(p.parent, p.stem) for p in paths}
    out = []
    for p in paths:
        is_mask = any(p.stem.endswith(s) and (p.parent, p.stem[:-len(s)]) in stems for s in MASK_SUFFIXES)
        if not is_mask:
            out.append(p)
    return out


def collect_inputs(spec: str) -> list[Path]:
    """The photos of a folder (not its subfolders), a glob pattern, or a list file (one path a
    line, relative to the list's folder; blank lines and # comments skipped), in order.
    Masks beside photos and hidden files are left out; a listed path that does not exist is
    kept (it fails with its reason, the others go on)."""
    p = Path(spec)
    if p.is_dir():
        found = _drop_masks(sorted(q for q in p.iterdir() if q.is_file() and _is_image_name(q)))
        what = f"the folder {p}"
    elif p.suffix.lower() in LIST_SUFFIXES and p.is_file():
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DIPError(f"cannot read the list {p}: {e}") from None
        found = []
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                q = Path(line).expanduser()
                found.append(q if q.is_absolute() else p.parent / q)
        what = f"the list {p}"
    else:
        found = _drop_masks(sorted(Path(q) for q in glob.glob(spec) if Path(q).is_file() and _is_image_name(Path(q))))
        what = f"the pattern {spec}"
    if not found:
        raise DIPError(f"no photos in {what} (looked for {', '.join(('.png', '.jpg', '.tif', '...'))})")
    # a photo listed twice is one photo: restored (and reported) once
    unique: dict[str, Path] = {}
    for q in found:
        unique.setdefault(os.path.normcase(os.path.abspath(q)), q)
    return list(unique.values())


def output_name(photo: Path) -> str:
    from .imageio import SAVE_FORMATS
    return photo.name if photo.suffix.lower() in SAVE_FORMATS else photo.stem + ".png"


def output_names(photos: list[Path]) -> list[str]:
    """Each photo's result name, decided before the first step: its own name (a format that
    cannot be written becomes .png). Where two photos would share a name (a.gif beside a.png)
    the one that keeps its own name keeps it and the other gets its whole name plus .png
    (a.gif.png), so neither replaces the other whichever sorts first."""
    names = [output_name(p) for p in photos]
    own = {n.lower() for p, n in zip(photos, names) if n == p.name}
    return [n if n == p.name or n.lower() not in own and names.count(n) == 1 else p.name + ".png"
            for p, n in zip(photos, names)]


def find_mask(photo: Path, mask_dir: Path | None) -> Path | None:
    """``mask_dir/photo.png`` (any mask extension, or photo_mask.png ...) or the mask beside the photo."""
    from .imageio import MASK_EXTENSIONS, MASK_SUFFIXES, sibling_mask

    if mask_dir is None:
        return sibling_mask(photo)
    for suffix in ("",) + MASK_SUFFIXES:
        for ext in ((photo.suffix,) if not suffix and photo.suffix.lower() in MASK_EXTENSIONS else ()) \
                + MASK_EXTENSIONS:
            cand = mask_dir / (photo.stem + suffix + ext)
            if cand.is_file():
                return cand
    return None
