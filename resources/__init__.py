"""The bundled sample photos and the app's icon (README.md here says where each comes from).

Read through :func:`path` (importlib.resources), never as a path beside the source: the
same call finds them in a checkout (``resources``), an installed wheel (the folder is
``dip_studio/resources`` there) and a PyInstaller bundle.
"""
from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

SAMPLE_NOISY = "sample_noisy.png"     # the photo the app opens at start
SAMPLE_CLEAN = "sample_clean.png"     # its clean reference (PSNR), Help > Why early stopping works
SAMPLE_TEXT = "sample_text.png"       # for inpainting, with sample_text_mask.png beside it
SAMPLE_TEXT_MASK = "sample_text_mask.png"
ICON_PNG = "icon.png"                 # 256 px; drawn by packaging/make_icon.py
ICON_SVG = "icon.svg"

# as_file() extracts a resource that is not a plain file (a zipped install) to a temporary
# file that lives as long as its context: keep the contexts open for the process's life
_files = contextlib.ExitStack()
atexit.register(_files.close)


def path(name: str) -> Path:
    """A real file path of the bundled resource ``name`` (that may not exist, if the
    installation lost it: callers check)."""
    return _files.enter_context(as_file(files(__name__) / name))
