"""Writing files all or nothing: a synced temporary file beside the destination, renamed
over it; several files together or none; what a killed write left is found and removed.
Image-agnostic (the encoders hand it a ``write_fn``); engine/imageio.py re-exports it."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from .errors import ImageError
from .pixels import SAVE_FORMATS, _reason, format_for

def _umask() -> int:
    # read once: os.umask can only be read by setting it, which is not thread-safe later
    old = os.umask(0o022)
    os.umask(old)
    return old


_UMASK = _umask()


def _folder_of(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def _temp_in(folder: Path, p: Path) -> str:
    """A new empty temporary file beside ``p`` (its name ends with ``p``'s extension)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=f".tmp{p.suffix}")
    os.close(fd)
    return tmp


def _check_destination(p: Path, what: str) -> Path:
    label = f"{what} {p}" if what else str(p)
    if p.is_dir():
        raise ImageError(f"cannot write {label}: it is a folder; give a file name")
    folder = _folder_of(p)
    if not folder.is_dir():
        if folder.exists():
            raise ImageError(f"cannot write {label}: {folder} is a file, not a folder")
        raise ImageError(f"cannot write {label}: the folder {folder} does not exist")
    return folder


def remove_temporaries(path: str | os.PathLike) -> int:
    """Remove what a killed write of ``path`` left beside it (``_temp_in``'s names); a run
    calls it for its own destinations before writing them. Returns how many went."""
    p = Path(path)
    folder = _folder_of(p)
    own = re.compile(rf"\.{re.escape(p.name)}\.[A-Za-z0-9_]{{8}}\.tmp{re.escape(p.suffix)}")
    gone = 0
    try:
        names = [q for q in folder.iterdir() if own.fullmatch(q.name) and q.is_file()]
    except OSError:
        return 0
    for q in names:
        _remove_quietly(str(q))
        gone += not q.exists()
    return gone


def check_writable(path: str | os.PathLike, what: str = "image",
                   formats: dict[str, str] | None = SAVE_FORMATS) -> Path:
    """Everything about writing ``path`` that can be known before there is anything to write:
    a known extension (when ``formats`` is given), not a folder, an existing folder in which a
    file can really be created (probed with the same temporary name a write will use, then
    removed). Raises a one-line :class:`ImageError`; returns the path."""
    p = Path(path)
    folder = _check_destination(p, what)
    if formats is not None:
        format_for(p, formats, what)
    try:
        tmp = _temp_in(folder, p)
    except OSError as e:
        raise ImageError(f"cannot write {what} {p}: no new file can be created in the folder {folder} "
                         f"({e.strerror or _reason(e)}); choose another folder") from e
    os.remove(tmp)
    return p


def _stage(p: Path, write_fn: Callable[[str], None]) -> str:
    """Write ``p``'s new content to a synced temporary file beside it; return its path."""
    folder = _check_destination(p, "")
    try:
        tmp = _temp_in(folder, p)
    except OSError as e:
        raise ImageError(f"cannot write {p}: {e.strerror or e}") from e
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a normal save would
        mode = (os.stat(p).st_mode & 0o7777) if p.exists() else (0o666 & ~_UMASK)
        os.chmod(tmp, mode)
    except BaseException as e:
        _remove_quietly(tmp)
        if isinstance(e, OSError):
            raise ImageError(f"cannot write {p}: {e.strerror or _reason(e)}") from e
        raise
    return tmp


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def write_all(items: list[tuple[str | os.PathLike, Callable[[str], None]]]) -> None:
    """Write several files all-or-nothing: every ``write_fn(tmp_path)`` writes a temporary
    file beside its destination; only when all of them succeeded are they renamed over their
    destinations. On any error every temporary file is removed and no destination changes.
    OS errors become :class:`ImageError`.
    """
    paths = [Path(path) for path, _ in items]
    seen: set[str] = set()
    for p in paths:
        key = os.path.normcase(os.path.realpath(p))
        if key in seen:
            raise ImageError(f"cannot write {p} twice in one save")
        seen.add(key)
    staged: list[tuple[str, Path]] = []
    try:
        for p, (_, write_fn) in zip(paths, items):
            staged.append((_stage(p, write_fn), p))
        for i, (tmp, p) in enumerate(staged):
            try:
                os.replace(tmp, p)
            except OSError as e:
                raise ImageError(f"cannot write {p}: {e.strerror or _reason(e)}") from e
            staged[i] = ("", p)
    except BaseException:
        for tmp, _ in staged:
            if tmp:
                _remove_quietly(tmp)
        raise
    for folder in {_folder_of(p) for p in paths}:
        _fsync_dir(folder)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[str], None]) -> None:
    """Write ``path`` all-or-nothing: ``write_fn(tmp_path)`` writes a temporary file in the
    same folder (its name ends with the destination's extension), which is flushed to disk
    and then renamed over ``path``. On any error the temporary file is removed and an
    existing ``path`` is left untouched. OS errors become :class:`ImageError`.
    """
    write_all([(path, write_fn)])


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable; not possible on every platform (Windows), so best effort
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

