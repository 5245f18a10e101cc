"""Project files (app/project.py): what is saved comes back, and no damaged or hostile file
gets further than one ProjectError. No Qt needed."""
from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app.project_png as project_png
from app.project import (FORMAT, VERSION, Project, ProjectError, _RUN_SCALARS, load_project,
                         save_project)
from app.runs import RunRecord
from engine.config import RunConfig
from engine.errors import DIPError

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def full_project() -> Project:
    """Every field in use: a region, an SR run at 4x, a dropped run, an average, a reference
    at twice the image's size."""
    image = rand(24, 32, 3)
    region = (4, 2, 16, 12)                               # work geometry 12 x 16
    sr = RunConfig(task="superres", scale=4).to_dict()
    runs = [
        RunRecord(id=1, config=sr, result=rand(48, 64, 3), result_step=412, result_kind="ema",
                  result_what="the best iterate at step 412", steps=612, stop_how="rule",
                  stop_reason="no better iterate for 200 steps", seconds=12.25, psnr=27.5,
                  curve_steps=np.arange(0, 50, 10, dtype=np.int64),
                  curve_loss=np.array([0.5, 0.25, np.nan, 0.125, 1e-7]),
                  curve_psnr={"output": (np.array([10, 20], np.int64), np.array([21.5, np.nan])),
                              "ema": (np.array([10, 20], np.int64), np.array([22.0, 24.25]))}),
        RunRecord(id=2, config=RunConfig(seed=7).to_dict(), result=None, steps=30, stop_how="request"),
        RunRecord(id=5, config=RunConfig().to_dict(), result=np.round(rand(12, 16, 1) * 255) / 255,
                  result_kind="average", stop_how="average", sources=[1, 2]),
    ]
    return Project(
        image=image, image_name="phötö.jpg", image_path="/home/u/ph\udcffoto.jpg",   # undecodable byte
        note="downscaled from 4000 x 3000", region=region, mask_known=RNG.random((12, 16)) > 0.3,
        reference=rand(48, 64, 3), guide=rand(12, 16, 3), guide_name="flash.jpg", settings=sr,
        runs=runs, current_run=1, result=rand(12, 16, 3), result_what="the iterate at step 300")


def assert_image_close(a: np.ndarray | None, b: np.ndarray | None) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    assert b.dtype == np.float32 and b.shape == (a.shape if a.ndim == 3 else a.shape + (1,))
    assert np.abs(b - a.reshape(b.shape)).max() <= 0.5 / 65535 + 1e-7


def assert_runs_equal(a: RunRecord, b: RunRecord) -> None:
    for f in dataclasses.fields(RunRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "result":
            assert_image_close(x, y)
        elif f.name == "curve_psnr":
            assert set(x) == set(y), f.name
            for k in x:
                assert all(np.array_equal(u, v, equal_nan=True) and v.dtype == np.asarray(u).dtype
                           for u, v in zip(x[k], y[k])), k
        elif f.name.startswith("curve_"):
            assert np.array_equal(x, y, equal_nan=True) and y.dtype == np.asarray(x).dtype, f.name
        else:
            assert x == y and type(x) is type(y), f.name


# ---------------------------------------------------------------- zip surgery

def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path: Path, items, compress=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in (items.items() if isinstance(items, dict) else items):
            zf.writestr(name, data, compress_type=compress)
    return path


def saved(tmp_path: Path, project: Project | None = None) -> Path:
    path = tmp_path / "work.dipproj"
    save_project(path, project or full_project())
    return path


def with_doc(tmp_path: Path, change, text_change=None) -> Path:
    """A saved project whose project.json went through ``change(doc)`` (and ``text_change``)."""
    m = members(saved(tmp_path))
    doc = json.loads(m["project.json"])
    change(doc)
    text = json.dumps(doc)
    m["project.json"] = (text_change(text) if text_change else text).encode()
    return write_zip(tmp_path / "edited.dipproj", m)


def refused(path: Path, *words: str) -> str:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    msg = str(info.value)
    assert msg.startswith(f"cannot open project {path}: ") and "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def raw_zip(entries: list[tuple[bytes, bytes, int, int]]) -> bytes:
    """A zip written by hand, so sizes and checksums can lie: (name, deflated data, declared
    uncompressed size, crc)."""
    local, central = b"", b""
    for name, data, size, crc in entries:
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0, len(local)) + name
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size,
                             len(name), 0) + name + data
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return local + central + eocd


def gigabyte_of_zeros() -> bytes:
    """A raw deflate stream of 1 GiB of zeros (1 MB), made without ever holding the GiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return chunk * 1024 + c.flush(zlib.Z_FINISH)


def bounded(fn, seconds: float = 2.0, megabytes: float = 50.0):
    tracemalloc.start()
    t = time.perf_counter()
    try:
        return fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert time.perf_counter() - t < seconds
        assert peak < megabytes * 2**20, f"peak {peak / 2**20:.0f} MiB"


# ---------------------------------------------------------------- round trips

def test_everything_survives_a_round_trip(tmp_path):
    p = full_project()
    q = load_project(saved(tmp_path, p))
    assert q.warnings == []
    for name in ("image_name", "image_path", "note", "region", "guide_name", "settings",
                 "current_run", "result_what"):
        assert getattr(q, name) == getattr(p, name), name
    assert type(q.region) is tuple
    assert q.mask_known.dtype == np.bool_ and np.array_equal(q.mask_known, p.mask_known)
    for name in ("image", "reference", "guide", "result"):
        assert_image_close(getattr(p, name), getattr(q, name))
    assert [r.id for r in q.runs] == [1, 2, 5]
    for a, b in zip(p.runs, q.runs):
        assert_runs_equal(a, b)
    assert q.runs[0].result.shape == (48, 64, 3)          # SR result at 4x the region
    assert q.runs[0].seed == 0 and q.runs[2].label == "Average of 1, 2"


def test_every_run_record_field_is_saved():
    # a field added to RunRecord later must be added to the project format too
    covered = set(_RUN_SCALARS) | {"result", "curve_steps", "curve_loss", "curve_psnr"}
    assert {f.name for f in dataclasses.fields(RunRecord)} == covered


def test_minimal_project_keeps_its_nones(tmp_path):
    image = rand(9, 11, 3)
    q = load_project(saved(tmp_path, Project(image=image)))
    assert_image_close(image, q.image)
    assert (q.region, q.mask_known, q.reference, q.guide, q.guide_name, q.result, q.current_run,
            q.image_path) == (None,) * 8
    assert q.runs == [] and q.settings == RunConfig().to_dict() and q.warnings == []


def test_eight_bit_images_are_exact_and_stored_as_8_bit_png(tmp_path):
    u8 = RNG.integers(0, 256, (10, 14, 3), dtype=np.uint8)
    image = u8.astype(np.float32) / np.float32(255)
    gray = image[:, :, :1].copy()
    path = saved(tmp_path, Project(image=image, guide=gray))
    q = load_project(path)
    assert np.array_equal(q.image, image) and np.array_equal(q.guide, gray)
    m = members(path)
    assert Image.open(io.BytesIO(m["image.png"])).mode == "RGB" and "image.r.png" not in m
    assert Image.open(io.BytesIO(m["guide.png"])).mode == "L"


def test_float_images_are_16_bit_per_channel(tmp_path):
    image, gray = rand(10, 14, 3), rand(10, 14)     # a 2-D array counts as one channel
    path = saved(tmp_path, Project(image=image, reference=gray))
    m = members(path)
    assert {"image.r.png", "image.g.png", "image.b.png", "reference.png"} <= set(m)
    assert all(Image.open(io.BytesIO(m[n])).mode == "I;16" for n in ("image.g.png", "reference.png"))
    q = load_project(path)
    assert_image_close(image, q.image)
    assert_image_close(gray, q.reference)
    err = np.abs(q.image - image).max()
    assert 0 < err <= 1 / 65535


def test_odd_sized_mask_is_exact(tmp_path):
    mask = RNG.random((13, 17)) > 0.5             # rows not a multiple of 8 bits
    q = load_project(saved(tmp_path, Project(image=rand(13, 17, 1), mask_known=mask)))
    assert np.array_equal(q.mask_known, mask)


def test_layout_of_the_file(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        doc = json.loads(zf.read("project.json"))
    assert infos["project.json"].compress_type == zipfile.ZIP_DEFLATED
    assert all(i.compress_type == zipfile.ZIP_STORED for n, i in infos.items() if n.endswith(".png"))
    assert set(infos) == {"project.json", "mask.png", "run5.png", "result.r.png", "result.g.png",
                          "result.b.png"} | {f"{k}.{c}.png" for k in ("image", "reference", "guide", "run1")
                                              for c in "rgb"}
    assert (doc["format"], doc["version"]) == (FORMAT, VERSION)
    assert doc["image"] == {"shape": [24, 32, 3], "bits": 16}
    assert doc["mask"] == {"shape": [12, 16], "bits": 1}
    assert doc["runs"][0]["curve_loss"][2] is None and doc["runs"][1]["result"] is None


def test_out_of_range_values_are_clipped_and_nan_is_refused(tmp_path):
    image = rand(6, 6, 3)
    image[0, 0] = [-0.5, 1.5, 1.0]
    q = load_project(saved(tmp_path, Project(image=image)))
    assert q.image[0, 0].tolist() == [0.0, 1.0, 1.0]
    image[1, 1, 1] = np.nan
    with pytest.raises(ProjectError, match="the image contains NaN"):
        save_project(tmp_path / "nan.dipproj", Project(image=image))
    assert not (tmp_path / "nan.dipproj").exists()


@pytest.mark.parametrize("change, words", [
    (lambda p: setattr(p, "mask_known", np.ones((12, 15), bool)), "the mask is 15 x 12"),
    (lambda p: setattr(p, "region", (20, 2, 16, 12)), "not inside the 32 x 24 image"),
    (lambda p: setattr(p, "guide", rand(24, 32, 3)), "the flash photo is 32 x 24"),
    (lambda p: setattr(p.runs[0], "result", rand(60, 80, 3)), "run 1's result is 80 x 60"),   # 5x
    (lambda p: setattr(p.runs[1], "id", 1), "run 1 twice"),
    (lambda p: setattr(p, "current_run", 4), "run 4, which is not among"),
    (lambda p: setattr(p.runs[0], "curve_loss", np.zeros(2)), "5 steps but 2 losses"),
    (lambda p: setattr(p.runs[0], "config", {"lr": np.nan}), "JSON cannot store"),
    (lambda p: setattr(p, "image", (rand(24, 32, 3) * 255).astype(np.uint8)), "floats in [0, 1]"),
])
def test_save_refuses_what_would_not_reopen(tmp_path, change, words):
    p = full_project()
    change(p)
    with pytest.raises(ProjectError, match=None) as info:
        save_project(tmp_path / "x.dipproj", p)
    assert words in str(info.value) and str(info.value).startswith("cannot save project")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_old_file_byte_identical(tmp_path, monkeypatch):
    path = saved(tmp_path)
    before = path.read_bytes()
    calls = []
    real = zipfile.ZipFile.writestr

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(ProjectError, match="No space left on device"):
        save_project(path, Project(image=rand(8, 8, 3)))
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [path.name]       # no temporary file left behind


def test_project_module_imports_no_qt():
    code = ("import sys, app.project\n"
            "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in "
            "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6', 'qtpy'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    for name in ("project.py", "project_png.py"):
        for line in (ROOT / "app" / name).read_text().splitlines():
            if line.strip().startswith(("import ", "from ")):
                assert not any(q in line for q in ("PySide", "PyQt", "pyqtgraph", "shiboken")), line


# ---------------------------------------------------------------- settings

def test_rejected_settings_fall_back_to_defaults_with_a_warning(tmp_path):
    q = load_project(with_doc(tmp_path, lambda d: d["settings"].update(task="bogus")))
    assert q.settings == RunConfig().to_dict()
    assert len(q.warnings) == 1 and "bogus" in q.warnings[0]
    q = load_project(with_doc(tmp_path, lambda d: d.update(settings=[1, 2])))
    assert q.settings == RunConfig().to_dict() and len(q.warnings) == 1


def test_settings_missing_a_newer_field_are_completed(tmp_path):
    q = load_project(with_doc(tmp_path, lambda d: d["settings"].pop("ema")))
    assert q.warnings == [] and q.settings["ema"] == RunConfig().ema and q.settings["task"] == "superres"


# ---------------------------------------------------------------- hostile files

@pytest.mark.parametrize("content", [b"", b"hello, not a zip", b"\x89PNG\r\n\x1a\n" + bytes(100),
                                     bytes(70000)])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "x.dipproj"
    path.write_bytes(content)
    refused(path, "not a zip archive")


def test_missing_file_and_folder(tmp_path):
    refused(tmp_path / "none.dipproj", "no such file")
    refused(tmp_path, "folder")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.999])
def test_truncated_zip(tmp_path, keep):
    data = saved(tmp_path).read_bytes()
    path = tmp_path / "cut.dipproj"
    path.write_bytes(data[:int(len(data) * keep)])
    refused(path)


def test_bad_crc(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("image.g.png")
    data = bytearray(path.read_bytes())
    at = info.header_offset + 30 + len(info.filename) + info.file_size // 2   # in the stored PNG
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    refused(path, "image.g.png is damaged (its checksum does not match)")


@pytest.mark.parametrize("drop, words", [
    ("project.json", "no project.json"), ("image.b.png", "image.b.png is missing"),
    ("mask.png", "mask.png is missing"), ("run5.png", "run5.png is missing"),
])
def test_missing_members(tmp_path, drop, words):
    m = members(saved(tmp_path))
    del m[drop]
    refused(write_zip(tmp_path / "x.dipproj", m), words)


@pytest.mark.parametrize("text, words", [
    (b"[1, 2]", "not a JSON object"), (b'"project"', "not a JSON object"), (b"null", "not a JSON object"),
    (b"{", "not valid JSON"), (b"\xff\xfe{}", "not valid JSON"), (b"[" * 100000, "nested too deeply"),
    (b"{}", "not a DIP Studio project"),
    (json.dumps({"format": FORMAT, "version": VERSION + 1}).encode(), "made by a newer DIP Studio"),
    (json.dumps({"format": FORMAT, "version": "1"}).encode(), "no valid format version"),
])
def test_bad_json(tmp_path, text, words):
    m = members(saved(tmp_path))
    m["project.json"] = text
    refused(write_zip(tmp_path / "x.dipproj", m), words)


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(image_name=5), "image_name must be a text"),
    (lambda d: d.pop("note"), "has no note"),
    (lambda d: d.update(image=None), "image must be an object"),
    (lambda d: d["runs"][0]["result"].update(bits="16"), "runs[0].result.bits must be 8 or 16"),
    (lambda d: d.update(region="abc"), "region must be [x, y, w, h]"),
    (lambda d: d.update(region=[1.5, 0, 4, 4]), "region must be [x, y, w, h]"),
    (lambda d: d.update(runs={}), "runs must be a list"),
    (lambda d: d["runs"].append(7), "runs[3] must be an object"),
    (lambda d: d["runs"][0].update(steps="x"), "runs[0].steps must be a whole number"),
    (lambda d: d["runs"][0].update(steps=True), "runs[0].steps must be a whole number"),
    (lambda d: d["runs"][0].update(steps=-1), "runs[0].steps must be a whole number >= 0"),
    (lambda d: d["runs"][0].update(id=0), "runs[0].id must be a whole number >= 1"),
    (lambda d: d["runs"][0].update(steps=10**25), "runs[0].steps must be a whole number"),
    (lambda d: d["runs"][1].update(config=[1]), "runs[1].config must be an object"),
    (lambda d: d["runs"][1].update(psnr="high"), "runs[1].psnr must be a finite number"),
    (lambda d: d["runs"][1].update(seconds=-3), "seconds must be >= 0"),
    (lambda d: d["runs"][0].update(curve_loss=["a"] * 5), "curve_loss must be a list of numbers"),
    (lambda d: d["runs"][0].update(curve_steps=[0.5] * 5), "curve_steps must be a list of whole numbers"),
    (lambda d: d["runs"][2].update(sources="1,2"), "sources must be a list"),
    (lambda d: d["runs"][0].update(curve_psnr=[1]), "curve_psnr must map output / ema"),
    (lambda d: d["runs"][0].update(curve_psnr={"input": [[], []]}), "curve_psnr must map output / ema"),
    (lambda d: d["runs"][0]["curve_psnr"].update(output=[[10], [1.0, 2.0]]), "as many numbers as steps"),
    (lambda d: d["runs"][0]["curve_psnr"].update(ema=[[0.5], [1.0]]), "must be a list of whole numbers"),
    (lambda d: d.update(current_run=9), "run 9, which is not among"),
    (lambda d: d["image"].update(bits=12), "image.bits must be 8 or 16"),
    (lambda d: d["image"].update(shape=[24, 32]), "image.shape must be 3 positive whole numbers"),
    (lambda d: d["image"].update(shape=[24, 32, 2]), "1 or 3 channels"),
    (lambda d: d["mask"].update(bits=8), "mask.bits must be 1"),
])
def test_wrong_types_and_values(tmp_path, change, words):
    refused(with_doc(tmp_path, change), words)


@pytest.mark.parametrize("literal, words", [
    ("NaN", "holds NaN"), ("Infinity", "holds Infinity"), ("-Infinity", "holds -Infinity"),
    ("1e400", "the number 1e400, which is too large"), ("9" * 5000, "5000 digits"),
])
def test_non_finite_and_huge_numbers(tmp_path, literal, words):
    path = with_doc(tmp_path, lambda d: d["runs"][0].update(psnr="@@"),
                    lambda text: text.replace('"@@"', literal))
    refused(path, words)


@pytest.mark.parametrize("region, words", [
    ([20, 2, 16, 12], "not inside"), ([-1, 0, 8, 8], "not inside"), ([0, 0, 0, 8], "not inside"),
    ([0, 0, 32, 25], "not inside"),
])
def test_region_outside_the_image(tmp_path, region, words):
    refused(with_doc(tmp_path, lambda d: d.update(region=region)), words)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["mask"].update(shape=[12, 15]), "the mask is 15 x 12 pixels, but it must be the size of the region"),
    (lambda d: d.update(region=None), "the mask is 16 x 12 pixels, but it must be the size of the image"),
    (lambda d: d["guide"].update(shape=[24, 32, 3]), "the flash photo is 32 x 24"),
    (lambda d: d["reference"].update(shape=[48, 32, 3]), "the reference is 32 x 48"),
    (lambda d: d["result"].update(shape=[60, 80, 3]), "the current result is 80 x 60"),   # 5x: no SR factor
    (lambda d: d["runs"][0]["result"].update(shape=[36, 64, 3]), "run 1's result is 64 x 36"),
])
def test_shapes_that_do_not_fit(tmp_path, change, words):
    refused(with_doc(tmp_path, change), words)


def test_png_that_disagrees_with_project_json(tmp_path):
    m = members(saved(tmp_path))
    png = io.BytesIO()
    Image.fromarray(np.zeros((12, 15), bool)).save(png, format="PNG")
    m["mask.png"] = png.getvalue()
    refused(write_zip(tmp_path / "a.dipproj", m), "mask.png is 15 x 12 pixels, but project.json says 16 x 12")
    png = io.BytesIO()
    Image.fromarray(np.zeros((12, 16), np.uint8)).convert("P").save(png, format="PNG")
    m["mask.png"] = png.getvalue()
    refused(write_zip(tmp_path / "b.dipproj", m), "mask.png has pixel format P")
    m["mask.png"] = b"GIF89a" + bytes(50)
    refused(write_zip(tmp_path / "c.dipproj", m), "mask.png is not a PNG image")


def test_truncated_png_member(tmp_path):
    m = members(saved(tmp_path))
    m["image.r.png"] = m["image.r.png"][:-200]
    refused(write_zip(tmp_path / "x.dipproj", m), "image.r.png is truncated or corrupt")


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny 16-bit grey PNG whose header claims ``width`` x ``height`` (CRC fixed up)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((2, 2), np.uint16)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[12:29])                      # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">2L", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">L", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def test_huge_png_header_is_refused_before_decoding(tmp_path):
    m = members(saved(tmp_path))
    m["image.r.png"] = _png_declaring(60000, 60000)     # 3.6 gigapixels, 7 GB of 16-bit
    path = write_zip(tmp_path / "x.dipproj", m)
    msg = bounded(lambda: refused(path))
    assert "image.r.png is 60000 x 60000 pixels, but project.json says 32 x 24" in msg


def test_pixel_limit_from_project_json_and_from_the_engine(tmp_path, monkeypatch):
    refused(with_doc(tmp_path, lambda d: d["image"].update(shape=[40000, 40000, 3])),
            "the image is 40000 x 40000 = 1.6e+03 megapixels, more than the limit of 40 megapixels")
    path = saved(tmp_path, Project(image=rand(24, 32, 3)))
    monkeypatch.setattr(project_png, "MAX_PIXELS", 500)
    refused(path, "the image is 32 x 24", "more than the limit")


def test_decoded_memory_is_bounded_before_decoding(tmp_path, monkeypatch):
    path = saved(tmp_path)
    monkeypatch.setattr("app.project.MAX_DECODED_BYTES", 20000)
    refused(path, "GiB of memory, more than the limit")


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/abs.txt", "a/../../b.txt", "..\\x.txt", "C:evil.txt"])
def test_unsafe_member_names(tmp_path, name):
    m = members(saved(tmp_path))
    m[name] = b"boom"
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    path = write_zip(sub / "x.dipproj", m)
    assert name in zipfile.ZipFile(path).namelist()
    before = sorted(tmp_path.rglob("*"))
    refused(path, "unsafe name")
    assert sorted(tmp_path.rglob("*")) == before      # nothing extracted anywhere


def test_unknown_members_are_ignored_and_duplicates_refused(tmp_path):
    m = members(saved(tmp_path))
    m["thumbnail.png"] = b"whatever a newer version adds"
    q = load_project(write_zip(tmp_path / "a.dipproj", m))
    assert q.image.shape == (24, 32, 3)
    items = list(m.items()) + [("project.json", b"{}")]
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = write_zip(tmp_path / "b.dipproj", items)
    refused(path, "contains the member project.json twice")


def test_compression_methods_we_never_write(tmp_path):
    m = members(saved(tmp_path))
    refused(write_zip(tmp_path / "x.dipproj", m, compress=zipfile.ZIP_BZIP2), "compression method")


class _Payload:
    """Unpickling this creates ``marker``: proof that something ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_in_the_file_are_never_executed(tmp_path, monkeypatch):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))          # the payload is live
    assert probe.exists()
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    npy = io.BytesIO()
    np.save(npy, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    for mod, name in ((pickle, "loads"), (pickle, "load"), (np, "load")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("unpickling was attempted"))
    good = members(saved(tmp_path))
    extra = dict(good, **{"image.npy": npy.getvalue(), "project.pkl": payload, "runs.npz": npy.getvalue()})
    assert load_project(write_zip(tmp_path / "a.dipproj", extra)).image.shape == (24, 32, 3)
    for name, data in (("project.json", payload), ("image.r.png", payload), ("mask.png", npy.getvalue())):
        refused(write_zip(tmp_path / f"{name}.dipproj", dict(good, **{name: data})), name)
    assert not marker.exists()


@pytest.mark.parametrize("name", [b"project.json", b"image.png"])
def test_a_gigabyte_zip_bomb_is_refused_quickly(tmp_path, name):
    bomb = gigabyte_of_zeros()
    path = tmp_path / "bomb.dipproj"
    if name == b"image.png":     # a valid project.json pointing at the bomb
        doc = {"format": FORMAT, "version": VERSION, "image_name": "", "image_path": None, "note": "",
               "image": {"shape": [24, 32, 3], "bits": 8}, "runs": [], "result_what": "",
               "settings": RunConfig().to_dict()}
        text = json.dumps(doc).encode()
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        entries = [(b"project.json", c.compress(text) + c.flush(), len(text), zlib.crc32(text))]
    else:
        entries = []
    path.write_bytes(raw_zip(entries + [(name, bomb, 1 << 30, 0)]))
    msg = bounded(lambda: refused(path))
    assert f"{name.decode()} declares 1073741824 bytes" in msg


def test_a_bomb_that_understates_its_size_stops_at_the_declared_size(tmp_path):
    path = tmp_path / "liar.dipproj"
    path.write_bytes(raw_zip([(b"project.json", gigabyte_of_zeros(), 1000, zlib.crc32(bytes(1000)) ^ 1)]))
    bounded(lambda: refused(path, "project.json is damaged"))


def test_too_many_members_are_refused_from_the_directory(tmp_path):
    items = [(f"{i}", b"") for i in range(project_png.MAX_MEMBERS + 1)]
    path = write_zip(tmp_path / "many.dipproj", items, compress=zipfile.ZIP_STORED)
    refused(path, f"lists {project_png.MAX_MEMBERS + 1} members")


def test_errors_are_dip_errors():
    assert issubclass(ProjectError, DIPError)
