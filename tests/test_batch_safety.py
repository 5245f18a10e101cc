"""A batch loses nothing (issue 22): a --metrics file that is not the batch's is refused, not
replaced; the output folder holds results only (resume still works); a photo listed twice is
one photo; a.gif beside a.png both get a result; a killed run's temporaries are cleaned on the
next run; Ctrl-C before any photo leaves no empty metrics file; a read-only output folder is
refused before the first step."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cli
from engine.batch import Batch, BatchOptions, output_names
from engine.executors import LocalExecutor
from tests.helpers import TINY_QT, smooth_image, tiny_config

TINY_SET = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
            "--set", "input_channels=8"]


def _save(path: Path, a: np.ndarray) -> Path:
    Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8).squeeze()).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        _save(d / f"p{i}.png", smooth_image(32, 32, seed=i))
    return d


def _cli(args, capsys):
    code = cli.main(["restore", "--task", "denoise", "--iterations", "6", "--threads", "1", *TINY_SET, *args])
    return code, capsys.readouterr().err


def test_a_metrics_file_that_is_not_the_batchs_is_refused_and_kept(photos, tmp_path, capsys):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my own notes\nthat I keep\n")
    code, err = _cli(["--input", str(photos), "--output", str(tmp_path / "out"), "--metrics", str(notes)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a metrics file of a batch" in err
    assert notes.read_text() == "my own notes\nthat I keep\n"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"a": 1}) + "\n")            # JSON, but not the batch's records
    code, err = _cli(["--input", str(photos), "--output", str(tmp_path / "out"), "--metrics", str(other)], capsys)
    assert code == 2 and other.read_text() == json.dumps({"a": 1}) + "\n"
    # the batch's own file (a line of another batch's photo too) is read, kept and extended
    own = tmp_path / "own.jsonl"
    foreign = json.dumps({"input": str(tmp_path / "elsewhere.png"), "status": "done"})
    own.write_text(foreign + "\n")
    code, err = _cli(["--input", str(photos), "--output", str(tmp_path / "out"), "--metrics", str(own)], capsys)
    assert code == 0
    lines = own.read_text().splitlines()
    assert len(lines) == 3 and foreign in lines


def test_the_output_folder_holds_results_only(photos, tmp_path, capsys):
    _save(photos / "g.gif", smooth_image(32, 32, seed=5))
    code, err = _cli(["--input", str(photos), "--output", str(photos)], capsys)
    assert code == 2 and "is the --input folder" in err
    assert sorted(p.name for p in photos.iterdir()) == ["g.gif", "p0.png", "p1.png"]   # nothing landed
    # a pattern that also finds the output folder: its results are not photos; the rerun resumes
    out = tmp_path / "out"
    pattern = str(tmp_path / "*" / "*.png")
    code, err = _cli(["--input", pattern, "--output", str(out)], capsys)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]
    code, err = _cli(["--input", pattern, "--output", str(out)], capsys)
    assert code == 0 and "2 files in the output folder" in err and "2 skipped" in err
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]


def test_a_photo_listed_twice_is_restored_and_reported_once(photos, tmp_path, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text("in/p0.png\nin/p0.png\n./in/p0.png\n")
    metrics = tmp_path / "m.jsonl"
    code, err = _cli(["--input", str(lst), "--output", str(tmp_path / "out"), "--metrics", str(metrics)], capsys)
    assert code == 0 and "1 photos: 1 done, 0 skipped, 0 failed" in err
    assert len(metrics.read_text().splitlines()) == 1


def test_a_gif_beside_a_png_of_the_same_name_both_get_results(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _save(d / "a.gif", smooth_image(32, 32, seed=1))
    _save(d / "a.png", smooth_image(32, 32, seed=2))
    _save(d / "b.gif", smooth_image(32, 32, seed=3))
    assert output_names([d / "a.gif", d / "a.png", d / "b.gif"]) == ["a.gif.png", "a.png", "b.png"]
    out, metrics = tmp_path / "out", tmp_path / "m.jsonl"
    code, err = _cli(["--input", str(d), "--output", str(out), "--metrics", str(metrics)], capsys)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["a.gif.png", "a.png", "b.png"]
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert {Path(x["input"]).name: (Path(x["output"]).name, x["status"]) for x in lines} == {
        "a.gif": ("a.gif.png", "done"), "a.png": ("a.png", "done"), "b.gif": ("b.png", "done")}


def test_a_killed_runs_temporaries_are_cleaned_by_the_next_run(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    metrics = tmp_path / "m.jsonl"
    stale = [out / ".p0.png.ab12cd34.tmp.png", tmp_path / ".m.jsonl.zz99yy88.tmp.jsonl"]
    for p in stale:
        p.write_bytes(b"half")
    mine = out / ".notes.txt.ab12cd34.tmp.txt"          # not a temporary of this batch: kept
    mine.write_bytes(b"x")
    code, _ = _cli(["--input", str(photos), "--output", str(out), "--metrics", str(metrics)], capsys)
    assert code == 0 and not any(p.exists() for p in stale) and mine.exists()


def test_ctrl_c_before_any_photo_leaves_no_empty_metrics_file(photos, tmp_path):
    cfg = tiny_config("denoise", iterations=40, stop="never", **TINY_QT)
    metrics = tmp_path / "m.jsonl"
    opts = BatchOptions(cfg=cfg, inputs=str(photos), output=str(tmp_path / "out"), threads=1,
                        metrics=str(metrics))

    def interrupt(ev):
        if ev["kind"] == "progress":
            raise KeyboardInterrupt
    assert Batch(opts, LocalExecutor(), on_event=interrupt, stream=io.StringIO()).run() == 130
    assert not metrics.exists()


def test_a_read_only_output_folder_is_refused_before_the_first_step(photos, tmp_path, capsys, monkeypatch):
    from engine import atomic, imageio

    out = tmp_path / "ro"
    out.mkdir()
    real = atomic._temp_in

    def read_only(folder, p):     # the suite may run as root, which writes anywhere: the folder says no
        if Path(folder) == out:
            raise PermissionError(13, "Permission denied")
        return real(folder, p)
    monkeypatch.setattr(atomic, "_temp_in", read_only)
    events = []
    cfg = tiny_config("denoise", iterations=6, stop="never", **TINY_QT)
    opts = BatchOptions(cfg=cfg, inputs=str(photos), output=str(out), threads=1)
    with pytest.raises(imageio.ImageError, match="no new file can be created"):
        Batch(opts, LocalExecutor(), on_event=events.append, stream=io.StringIO()).run()
    assert not [e for e in events if e["kind"] == "progress"]
    code, err = _cli(["--input", str(photos), "--output", str(out)], capsys)
    assert code == 2 and "Permission denied" in err and len(err.strip().splitlines()) == 1
