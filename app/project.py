"""A DIP Studio project (``*.dipproj``): everything needed to reopen one's work, in one file.

Plain data, no Qt (tests/test_project.py checks it). The file is a zip archive:

  project.json                 deflated; format name and version, every scalar, the run
                               metadata and curves, and for each array a descriptor
                               ``{"shape": [H, W, C], "bits": 8 | 16}`` (mask: ``[H, W]``, 1)
  image.png / image.r|g|b.png  the whole image (see app/project_png.py for 8- vs 16-bit)
  mask.png                     known pixels at the work geometry, 1-bit, white = known
  reference*.png, guide*.png, result*.png, run<id>*.png     the same way, when present

PNG members are stored, not deflated again (PNG is already deflate-compressed). Member
names are derived from the descriptors, never read from the file; anything else in the
archive is ignored, but a member named with ``..``, ``/``, ``\\`` or ``:`` refuses the file.

Loading trusts nothing: every way a file can be damaged or hostile becomes one
:class:`ProjectError` naming what is wrong, checked before anything is decoded (sizes and
geometry from project.json, each PNG's header before its pixels). Settings that RunConfig
rejects do not refuse the project (the image and the runs are the user's work, the panel's
settings are not): they are replaced by the defaults and :attr:`Project.warnings` says so.
Saving runs the same checks on what it is about to write, so every saved project reopens,
and writes through ``engine.imageio.atomic_write`` (a failed save leaves the old file).
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.project_png import (MAX_DECODED_BYTES, MAX_JSON_BYTES, Bad, ProjectZip, check_descriptor,
                             decode_image, decode_mask, decoded_bytes, encode_image, encode_mask)
from app.runs import RunRecord
from engine.config import SCALES, RunConfig
from engine.errors import DIPError
from engine.imageio import atomic_write

FORMAT = "dip-studio-project"
VERSION = 1
EXTENSION = ".dipproj"
JSON_NAME = "project.json"
RESULT_FACTORS = (1, *SCALES)          # a result is the work geometry times one of these
_MAX_INT = 2**63 - 1                   # ids, steps: what numpy's int64 curves can hold


class ProjectError(DIPError):
    """A project file that cannot be written or read; the message is one sentence."""


@dataclass
class Project:
    """One user's work: the image, the region and mask, the companions, the settings and runs."""

    image: np.ndarray                                  # float32 H x W x C in [0, 1], the whole image
    image_name: str = ""                               # the original file name (titles, save names)
    image_path: str | None = None                      # where it came from, when it has a file
    note: str = ""                                     # "downscaled from 4000 x 3000"
    region: tuple[int, int, int, int] | None = None    # x, y, w, h within image: the runs' work image
    mask_known: np.ndarray | None = None               # bool at the work geometry, True = known
    reference: np.ndarray | None = None                # clean image, image's size or k times it
    guide: np.ndarray | None = None                    # the flash photo at the work geometry
    guide_name: str | None = None
    settings: dict[str, Any] = field(default_factory=lambda: RunConfig().to_dict())
    runs: list[RunRecord] = field(default_factory=list)
    current_run: int | None = None                     # the run whose result is the current result
    result: np.ndarray | None = None                   # a current result that is no run's result
    result_what: str = ""
    warnings: list[str] = field(default_factory=list)  # what loading had to change (not saved)

    @property
    def work_hw(self) -> tuple[int, int]:
        """(H, W) of what the runs work on: the region's, else the image's."""
        if self.region is not None:
            return int(self.region[3]), int(self.region[2])
        return int(self.image.shape[0]), int(self.image.shape[1])


# RunRecord fields and how they travel: the arrays go to PNG (result) or JSON lists (curves)
_RUN_SCALARS = ("id", "config", "result_step", "result_kind", "result_what", "steps",
                "stop_how", "stop_reason", "stop_where", "seconds", "psnr", "sources")


# ---------------------------------------------------------------- checking project.json

def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, bool, type(None))) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _get(d: dict, key: str, where: str, optional: bool) -> Any:
    if key not in d and not optional:
        raise Bad(f"project.json has no {where}{key}")
    return d.get(key)


def _text(d: dict, key: str, where: str = "", optional: bool = False) -> str | None:
    v = _get(d, key, where, optional)
    if not (isinstance(v, str) or (optional and v is None)):
        raise Bad(f"project.json: {where}{key} must be a text{' or null' if optional else ''}, got {_show(v)}")
    return v


def _whole(d: dict, key: str, lo: int, where: str = "", optional: bool = False) -> int | None:
    v = _get(d, key, where, optional)
    if optional and v is None:
        return None
    if type(v) is not int or not lo <= v <= _MAX_INT:
        raise Bad(f"project.json: {where}{key} must be a whole number >= {lo}, got {_show(v)}")
    return v


def _real(d: dict, key: str, where: str = "", optional: bool = False) -> float | None:
    v = _get(d, key, where, optional)
    if optional and v is None:
        return None
    if type(v) not in (int, float) or not math.isfinite(v):
        raise Bad(f"project.json: {where}{key} must be a finite number, got {_show(v)}")
    return float(v)


def _array(d: dict, key: str, name: str, where: str = "", optional: bool = True,
           mask: bool = False) -> dict | None:
    v = _get(d, key, where, optional)
    return None if v is None and optional else check_descriptor(v, where + key, name, mask)


def _fits(name: str, shape: list[int], base: tuple[int, int], factors: tuple[int, ...] | None,
          base_name: str) -> None:
    """``shape``'s (H, W) must be ``base`` times one of ``factors`` (None: any whole factor)."""
    h, w = shape[0], shape[1]
    bh, bw = base
    k = h // bh
    ok = k >= 1 and (h, w) == (bh * k, bw * k) and (factors is None or k in factors)
    if not ok:
        need = "the size" if factors == (1,) else "the size or a whole multiple"
        raise Bad(f"{name} is {w} x {h} pixels, but it must be {need} of the {base_name} ({bw} x {bh})")


def _check_doc(doc: Any) -> None:
    """Everything about project.json that can be known without decoding a pixel."""
    if not isinstance(doc, dict):
        raise Bad("project.json is not a JSON object")
    if doc.get("format") != FORMAT:
        raise Bad("it is not a DIP Studio project (project.json names no DIP Studio format)")
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise Bad(f"project.json has no valid format version (got {_show(version)})")
    if version > VERSION:
        raise Bad(f"it was made by a newer DIP Studio (project format {version}; this version reads "
                  f"format {VERSION}), so update DIP Studio to open it")
    for key in ("image_name", "note", "result_what"):
        _text(doc, key)
    _text(doc, "image_path", optional=True)
    _text(doc, "guide_name", optional=True)
    image = _array(doc, "image", "the image", optional=False)
    ih, iw = image["shape"][:2]
    work, work_name = (ih, iw), "image"
    region = doc.get("region")
    if region is not None:
        if not (isinstance(region, list) and len(region) == 4 and all(type(v) is int for v in region)):
            raise Bad(f"project.json: region must be [x, y, w, h] in whole pixels or null, got {_show(region)}")
        x, y, w, h = region
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > iw or y + h > ih:
            raise Bad(f"the region {w} x {h} at {x},{y} is not inside the {iw} x {ih} image")
        work, work_name = (h, w), "region"
    arrays = [image]
    for key, name, factors, base, base_name, mask in (
            ("mask", "the mask", (1,), work, work_name, True),
            ("guide", "the flash photo", (1,), work, work_name, False),
            ("reference", "the reference", None, (ih, iw), "image", False),
            ("result", "the current result", RESULT_FACTORS, work, work_name, False)):
        desc = _array(doc, key, name, mask=mask)
        if desc is not None:
            _fits(name, desc["shape"], base, factors, base_name)
            arrays.append(desc)
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise Bad(f"project.json: runs must be a list, got {_show(runs)}")
    ids: set[int] = set()
    for i, run in enumerate(runs):
        where = f"runs[{i}]."
        if not isinstance(run, dict):
            raise Bad(f"project.json: runs[{i}] must be an object, got {_show(run)}")
        run_id = _whole(run, "id", 1, where)
        if run_id in ids:
            raise Bad(f"project.json lists run {run_id} twice")
        ids.add(run_id)
        if not isinstance(run.get("config"), dict):
            raise Bad(f"project.json: {where}config must be an object, got {_show(run.get('config'))}")
        for key in ("result_kind", "result_what", "stop_how", "stop_reason"):
            _text(run, key, where)
        _text(run, "stop_where", where, optional=True)     # projects before it have none
        _whole(run, "result_step", 0, where, optional=True)
        _whole(run, "steps", 0, where)
        if _real(run, "seconds", where) < 0:
            raise Bad(f"project.json: {where}seconds must be >= 0, got {_show(run['seconds'])}")
        _real(run, "psnr", where, optional=True)
        _whole_list(run, "sources", 1, where)
        steps = _whole_list(run, "curve_steps", 0, where)
        loss = run.get("curve_loss")
        if not (isinstance(loss, list) and all(v is None or (type(v) in (int, float) and math.isfinite(v))
                                               for v in loss)):
            raise Bad(f"project.json: {where}curve_loss must be a list of numbers (null: not a number)")
        if len(loss) != len(steps):
            raise Bad(f"project.json: run {run_id}'s curve has {len(steps)} steps but {len(loss)} losses")
        _check_psnr_curves(run.get("curve_psnr"), run_id, where)
        desc = _array(run, "result", f"run {run_id}'s result", where)
        if desc is not None:
            _fits(f"run {run_id}'s result", desc["shape"], work, RESULT_FACTORS, work_name)
            arrays.append(desc)
    current = _whole(doc, "current_run", 1, optional=True)
    if current is not None and current not in ids:
        raise Bad(f"the current result is run {current}, which is not among the project's runs")
    need = sum(decoded_bytes(d) for d in arrays)
    if need > MAX_DECODED_BYTES:
        raise Bad(f"its images need {need / 2**30:.3g} GiB of memory, more than the limit of "
                  f"{MAX_DECODED_BYTES / 2**30:.3g} GiB")


def _check_psnr_curves(curves: Any, run_id: int, where: str) -> None:
    """A run's PSNR curves: absent (older projects), or {"output"|"ema": [steps, dB]}."""
    if curves is None:
        return
    if not isinstance(curves, dict) or not set(curves) <= {"output", "ema"}:
        raise Bad(f"project.json: {where}curve_psnr must map output / ema to [steps, values]")
    for key, pair in curves.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            raise Bad(f"project.json: {where}curve_psnr.{key} must be [steps, values]")
        steps = _whole_list({"steps": pair[0]}, "steps", 0, f"{where}curve_psnr.{key}.")
        vals = pair[1]
        if not (isinstance(vals, list) and all(v is None or (type(v) in (int, float) and math.isfinite(v))
                                               for v in vals)) or len(vals) != len(steps):
            raise Bad(f"project.json: run {run_id}'s {key} PSNR curve must be as many numbers as steps")


def _whole_list(d: dict, key: str, lo: int, where: str) -> list[int]:
    v = d.get(key)
    if not (isinstance(v, list) and all(type(x) is int and lo <= x <= _MAX_INT for x in v)):
        raise Bad(f"project.json: {where}{key} must be a list of whole numbers >= {lo}")
    return v


# ---------------------------------------------------------------- saving

def _plain(value: Any) -> Any:
    """numpy scalars (an np.int64 step, an np.float32 PSNR) as the Python values JSON takes."""
    return value.item() if isinstance(value, np.generic) else value


def _encode(project: Project) -> tuple[bytes, list[tuple[str, bytes]]]:
    members: list[tuple[str, bytes]] = []

    def put(desc_and_members: tuple[dict, list[tuple[str, bytes]]]) -> dict:
        members.extend(desc_and_members[1])
        return desc_and_members[0]

    def optional(key: str, array: Any, name: str) -> dict | None:
        return None if array is None else put(encode_image(key, array, name))

    region = None if project.region is None else [_plain(v) for v in project.region]
    runs = []
    for r in project.runs:
        run = {k: _plain(getattr(r, k)) for k in _RUN_SCALARS}
        run["sources"] = [_plain(v) for v in r.sources]
        run["curve_steps"] = np.asarray(r.curve_steps).tolist()
        run["curve_loss"] = [v if math.isfinite(v) else None
                             for v in np.asarray(r.curve_loss, dtype=np.float64).tolist()]
        run["curve_psnr"] = {k: [np.asarray(x).tolist(), [v if math.isfinite(v) else None for v in
                                                         np.asarray(y, dtype=np.float64).tolist()]]
                             for k, (x, y) in (r.curve_psnr or {}).items()}
        run["result"] = optional(f"run{r.id}", r.result, f"run {r.id}'s result")
        runs.append(run)
    doc = {
        "format": FORMAT, "version": VERSION,
        "image_name": project.image_name, "image_path": project.image_path, "note": project.note,
        "image": put(encode_image("image", project.image, "the image")),
        "region": region,
        "mask": None if project.mask_known is None else put(encode_mask("mask", project.mask_known, "the mask")),
        "reference": optional("reference", project.reference, "the reference"),
        "guide": optional("guide", project.guide, "the flash photo"),
        "guide_name": project.guide_name,
        "settings": project.settings,
        "runs": runs,
        "current_run": _plain(project.current_run),
        "result": optional("result", project.result, "the current result"),
        "result_what": project.result_what,
    }
    _check_doc(doc)
    if not isinstance(project.settings, dict):
        raise Bad(f"the settings must be a dict (RunConfig.to_dict()), got {type(project.settings).__name__}")
    try:
        # ASCII escapes keep a file name's undecodable bytes (lone surrogates) intact
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"), default=_plain_or_fail)
    except (TypeError, ValueError) as e:
        raise Bad(f"the settings or a run's settings hold a value JSON cannot store ({e})") from e
    return text.encode("utf-8"), members


def _plain_or_fail(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def save_project(path: str | Path, project: Project) -> None:
    """Write ``project`` to ``path`` all-or-nothing; a :class:`ProjectError` says why not."""
    p = Path(path)
    try:
        payload, members = _encode(project)
    except Bad as e:
        raise ProjectError(f"cannot save project {p}: {e}") from e
    except MemoryError as e:
        raise ProjectError(f"cannot save project {p}: not enough memory to encode its images") from e
    except Exception as e:  # noqa: BLE001 - a malformed Project (a bug) still gets a message, not a crash
        raise ProjectError(f"cannot save project {p}: {type(e).__name__}: {e}") from e

    def write(tmp: str) -> None:
        # allowZip64=False: the reader refuses ZIP64, so a project too big for plain zip
        # fails here instead of becoming a file that does not reopen
        with zipfile.ZipFile(tmp, "w", allowZip64=False) as zf:
            zf.writestr(JSON_NAME, payload, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in members:
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)

    try:
        atomic_write(p, write)
    except DIPError as e:
        raise ProjectError(str(e)) from e
    except zipfile.LargeZipFile as e:
        raise ProjectError(f"cannot save project {p}: it would exceed the 4 GB a project can hold") from e


# ---------------------------------------------------------------- loading

def _number_constant(name: str) -> Any:
    raise Bad(f"project.json holds {name}, which a project never contains")


def _parse_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise Bad(f"project.json holds the number {text[:20]}, which is too large")
    return v


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 30:
        raise Bad(f"project.json holds a whole number of {len(text)} digits, which is too large")
    return int(text)


def _read_json(zf: ProjectZip) -> Any:
    if JSON_NAME not in zf:
        raise Bad(f"it has no {JSON_NAME}, so it is not a DIP Studio project")
    data = zf.read(JSON_NAME, MAX_JSON_BYTES)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_number_constant,
                          parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError as e:
        raise Bad(f"{JSON_NAME} is nested too deeply") from e
    except (UnicodeDecodeError, ValueError) as e:
        raise Bad(f"{JSON_NAME} is not valid JSON ({str(e).splitlines()[0]})") from e


def _settings(value: Any, warnings: list[str]) -> dict[str, Any]:
    try:
        if not isinstance(value, dict):
            raise TypeError(f"they are {_show(value)}, not a set of settings")
        return RunConfig.from_dict(value).validate().to_dict()
    except Exception as e:  # noqa: BLE001 - whatever RunConfig makes of hostile settings, keep the work
        warnings.append(f"The saved settings could not be used ({e}); the defaults are shown instead.")
        return RunConfig().to_dict()


def _build(doc: dict, zf: ProjectZip) -> Project:
    def image(key: str, desc: dict | None) -> np.ndarray | None:
        return None if desc is None else decode_image(zf, key, desc)

    runs = []
    for run in doc["runs"]:
        r = RunRecord(**{k: run.get(k) for k in _RUN_SCALARS})
        r.stop_where = r.stop_where or ""
        r.seconds = float(r.seconds)
        r.psnr = None if r.psnr is None else float(r.psnr)
        r.curve_steps = np.asarray(run["curve_steps"], dtype=np.int64)
        r.curve_loss = np.asarray([math.nan if v is None else v for v in run["curve_loss"]], dtype=np.float64)
        r.result = image(f"run{r.id}", run.get("result"))
        r.curve_psnr = {k: (np.asarray(x, dtype=np.int64),
                            np.asarray([math.nan if v is None else v for v in y], dtype=np.float64))
                        for k, (x, y) in (run.get("curve_psnr") or {}).items()}
        runs.append(r)
    warnings: list[str] = []
    region = doc.get("region")
    return Project(
        image=image("image", doc["image"]),
        image_name=doc["image_name"], image_path=doc.get("image_path"), note=doc["note"],
        region=None if region is None else tuple(region),
        mask_known=None if doc.get("mask") is None else decode_mask(zf, "mask", doc["mask"]),
        reference=image("reference", doc.get("reference")),
        guide=image("guide", doc.get("guide")), guide_name=doc.get("guide_name"),
        settings=_settings(doc.get("settings"), warnings),
        runs=runs, current_run=doc.get("current_run"),
        result=image("result", doc.get("result")), result_what=doc["result_what"],
        warnings=warnings,
    )


def load_project(path: str | Path) -> Project:
    """Read a project file; anything wrong with it raises one :class:`ProjectError`."""
    p = Path(path)
    try:
        if not p.exists():
            raise Bad("no such file")
        if p.is_dir():
            raise Bad("it is a folder, not a project file")
        if not p.is_file():      # a FIFO or device would block or never end
            raise Bad("it is not a regular file")
        try:
            f = open(p, "rb")
        except OSError as e:
            raise Bad(f"it cannot be read ({e.strerror or e})") from e
        with f:
            zf = ProjectZip(f)
            doc = _read_json(zf)
            _check_doc(doc)
            return _build(doc, zf)
    except Bad as e:
        raise ProjectError(f"cannot open project {p}: {e}") from e
    except MemoryError as e:
        raise ProjectError(f"cannot open project {p}: not enough memory to load its images") from e
    except Exception as e:  # noqa: BLE001 - a hostile file must never reach the user as a traceback
        raise ProjectError(f"cannot open project {p}: the file is damaged ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else 'no details'})") from e

