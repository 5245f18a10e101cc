"""Ctrl-C on a tiled ``restore`` keeps its finished units beside the output
(engine/job_parts.py); the same command run again goes on from them and writes what an
uninterrupted run writes. Another job's parts are started over, a foreign folder refused."""
import json

import numpy as np
import pytest
from PIL import Image

import engine.cli_tiled as cli_tiled
from engine.cli import main
from engine.errors import ImageError
from engine.job_parts import JobParts
from tests.helpers import smooth_image
from tests.test_cli_tiles import TINY, _png


@pytest.fixture
def photo(tmp_path):
    return _png(tmp_path / "photo.png", smooth_image(72, 100, seed=4))


def _args(photo, out, *more):
    return ["restore", "--task", "denoise", "--input", photo, "--output", str(out), "--tile", "64",
            "--overlap", "16", "--iterations", "20", *TINY, *more]


def _ctrl_c_after(monkeypatch, done):
    """Ctrl-C in the CLI's own loop once ``done`` units have ended."""
    real = cli_tiled.TileProgress.update

    def update(self, rec, total):
        real(self, rec, total)
        if rec.unit is not None and rec.unit.done >= done:
            raise KeyboardInterrupt
    monkeypatch.setattr(cli_tiled.TileProgress, "update", update)


def _seen_units(monkeypatch):
    seen = set()
    real = cli_tiled.TileProgress.update

    def update(self, rec, total):
        seen.add(rec.unit.index)
        real(self, rec, total)
    monkeypatch.setattr(cli_tiled.TileProgress, "update", update)
    return seen


@pytest.mark.parametrize("runs", [[], ["--runs", "1"]], ids=["seeds", "lanes"])
def test_ctrl_c_keeps_finished_tiles_and_the_same_command_goes_on_to_the_uninterrupted_result(
        tmp_path, photo, capsys, monkeypatch, runs):
    whole = tmp_path / "whole.png"
    assert main(_args(photo, whole, *runs)) == 0
    assert "side by side" in capsys.readouterr().err or not runs

    out, metrics = tmp_path / "o.png", tmp_path / "m.json"
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 2)
        assert main(_args(photo, out, "--metrics", str(metrics), *runs)) == 130
    err = capsys.readouterr().err
    parts = tmp_path / "o.png.parts"
    kept = sorted(p.name for p in parts.glob("unit-*.npy"))
    assert not out.exists() and not metrics.exists()
    assert len(kept) >= 2 and f"{len(kept)} of 4 tiles kept in {parts}" in err

    with monkeypatch.context() as m:
        seen = _seen_units(m)
        assert main(_args(photo, out, "--metrics", str(metrics), *runs)) == 0
    err = capsys.readouterr().err
    assert f"going on from {parts}: {len(kept)} of 4 tiles already done" in err
    assert len(seen) == 4 - len(kept)                     # only the rest ran
    assert not parts.exists()                             # written: the parts are gone
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(whole)))
    report = json.loads(metrics.read_text())["plan"]
    assert report["done"] == 4 and all(u["steps"] >= 1 for u in report["per_unit"])
    assert len({tuple(u["box"]) for u in report["per_unit"]}) == 4   # the kept units' records too


def test_parts_of_another_job_are_started_over_and_a_foreign_folder_is_refused(tmp_path, photo, capsys,
                                                                               monkeypatch):
    out = tmp_path / "o.png"
    with monkeypatch.context() as m:
        _ctrl_c_after(m, 1)
        assert main(_args(photo, out, "--seed", "3")) == 130
    capsys.readouterr()
    with monkeypatch.context() as m:
        seen = _seen_units(m)
        assert main(_args(photo, out, "--seed", "5")) == 0     # another seed: other pixels
    assert "held the tiles of another job" in capsys.readouterr().err and len(seen) == 4

    out2 = tmp_path / "p.png"
    foreign = tmp_path / "p.png.parts"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"mine")
    assert main(_args(photo, out2)) == 2
    assert "did not write" in capsys.readouterr().err.strip().splitlines()[-1]
    assert (foreign / "holiday.jpg").read_bytes() == b"mine" and not out2.exists()


def test_a_disk_that_refuses_the_parts_warns_once_and_the_job_still_writes(tmp_path, photo, capsys, monkeypatch):
    def refuse(self, index, result, info):
        raise ImageError("cannot write: the disk is full")
    monkeypatch.setattr(JobParts, "save", refuse)
    out = tmp_path / "o.png"
    assert main(_args(photo, out)) == 0
    err = capsys.readouterr().err
    assert err.count("cannot be kept") == 1 and out.exists()


def test_half_a_unit_is_run_again_and_the_folder_holds_only_its_own_files(tmp_path):
    parts = JobParts(tmp_path / "x.parts", "abc", 3)
    a = np.full((4, 5, 3), 0.25, np.float32)
    parts.save(0, a, {"steps": 7, "seconds": 1.5})
    parts.save(2, a + 0.5, {"steps": 9, "seconds": 2.0})
    (tmp_path / "x.parts" / "unit-0002.json").unlink()   # killed between a unit's two files
    found = JobParts(tmp_path / "x.parts", "abc", 3).load()
    assert [(i, info["steps"]) for i, _, info in found] == [(0, 7)]
    assert np.array_equal(found[0][1], a)
    other = JobParts(tmp_path / "x.parts", "def", 3)
    assert other.load() == [] and other.started_over
    assert list((tmp_path / "x.parts").iterdir()) == []
    parts.save(1, a, {"steps": 1})
    parts.remove()
    assert not (tmp_path / "x.parts").exists()


def test_a_job_blends_in_only_kept_units_that_fit_its_boxes(tmp_path):
    from engine.job import TiledRestoration
    from engine.tiling import plan_job
    from tests.helpers import tiny_config

    cfg = tiny_config("denoise", iterations=5)
    image = smooth_image(72, 100, seed=4)
    plan = plan_job(cfg, image.shape[:2], 3, device="cpu", tile=64, overlap=16)
    parts = JobParts.of_job(tmp_path / "p", cfg, plan, image)
    b = plan.units[0].box
    parts.save(0, np.full((b.height, b.width, 3), 0.5, np.float32), {"steps": 3, "seconds": 1.0})
    parts.save(1, np.zeros((5, 5, 3), np.float32), {"steps": 3, "seconds": 1.0})   # not unit 1's size
    job = TiledRestoration(cfg, plan, image)
    assert job.keep_parts(JobParts.of_job(tmp_path / "p", cfg, plan, image)) == 1 == job.kept_units
    assert job.states[:2] == ["done", "queued"]
    np.testing.assert_allclose(job.composite(b)[b.height // 2, b.width // 2], 0.5, atol=1e-6)
