"""The document model without any widget: geometry rules, events, results, runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.document import Document, reference_factor
from app.runs import RunRecord
from engine.config import RunConfig
from engine.errors import DIPError, MaskError
from engine.imageio import Loaded

ROOT = Path(__file__).resolve().parents[1]


def _loaded(h=48, w=64, c=3, seed=0, path="/nowhere/photo.png") -> Loaded:
    a = np.random.default_rng(seed).random((h, w, c)).astype(np.float32)
    return Loaded(array=a, mode="RGB" if c == 3 else "L", bit_depth=8, alpha=None, path=path, format="PNG")


class Events:
    def __init__(self, doc: Document):
        self.seen: list[str] = []
        for name in ("image_changed", "result_changed", "reference_changed", "guide_changed"):
            getattr(doc, name).connect(lambda *_a, n=name: self.seen.append(n))


def test_document_module_imports_no_qt():
    code = ("import sys, app.document, app.runs\n"
            "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'pyqtgraph'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_open_resets_everything_and_tells_listeners():
    doc = Document()
    ev = Events(doc)
    doc.open(_loaded())
    assert doc.image is doc.full and doc.mask.shape == (48, 64) and doc.mask.is_empty
    assert {"image_changed", "result_changed", "reference_changed"} <= set(ev.seen)
    doc.set_result(np.zeros((48, 64, 3), np.float32), 10, "x")
    doc.runs.add(RunRecord(id=0, config={"seed": 1}))
    assert doc.unsaved and len(doc.runs) == 1
    doc.open(_loaded(seed=1))
    assert doc.result is None and not doc.dirty and len(doc.runs) == 0


def test_mask_edits_reach_the_document_listeners_from_the_model():
    # whoever edits the mask (canvas, actions, a loaded file), listeners hear it from the model:
    # once per completed edit (a stroke at its end), not per segment, and not for a no-op
    doc = Document()
    doc.open(_loaded())
    seen = []
    doc.mask_changed.connect(lambda: seen.append(1))
    m = doc.mask
    m.begin_stroke("brush")
    m.stroke_to(10.5, 10.5, 3.0)
    m.stroke_to(20.5, 12.5, 3.0)
    assert seen == []
    assert m.end_stroke() and seen == [1]
    assert m.undo() and m.redo() and seen == [1, 1, 1]
    m.invert()
    assert len(seen) == 4
    doc.open(_loaded(seed=1))          # a new work image is image_changed, not an edit
    assert len(seen) == 4 and doc.mask.clear() is False and len(seen) == 4
    doc.mask.invert()
    assert len(seen) == 5              # the new image's mask tells the same listeners


def test_settings_live_in_the_document_and_come_out_as_copies():
    doc = Document()
    seen = []
    doc.settings_changed.connect(lambda: seen.append(1))
    with pytest.raises(DIPError):
        doc.config()                                   # none shown yet
    doc.set_settings(RunConfig(iterations=77))
    cfg = doc.config()
    cfg.iterations = 5                                 # a room's copy, not the document's
    assert doc.config().iterations == 77 and seen == [1]
    doc.set_settings(None, "lr: not a number")
    with pytest.raises(DIPError, match="lr: not a number"):
        doc.config()


def test_the_plan_of_a_run_is_the_documents_and_follows_the_mask():
    doc = Document()
    doc.set_settings(RunConfig(task="inpaint", iterations=10))
    assert doc.plan() is None                          # no image, no plan
    doc.open(_loaded())
    plan = doc.plan()
    assert plan is not None and not plan.tiled and plan is doc.plan()   # cached
    computed = doc.cost.plans.computed
    doc.mask.begin_stroke("brush")
    doc.mask.stroke_to(10.5, 10.5, 3.0)
    doc.mask.end_stroke()
    doc.plan()
    assert doc.cost.plans.computed == computed + 1     # an inpainting plan's crops follow the mask
    doc.set_settings(None, "bad")
    with pytest.raises(DIPError):
        doc.plan()


def test_region_crops_image_paint_and_guide_and_pastes_back():
    doc = Document()
    doc.open(_loaded())
    doc.mask.set_from_known(np.pad(np.zeros((4, 4), bool), ((20, 24), (30, 30)), constant_values=True))
    doc.set_guide(np.ones((48, 64, 3), np.float32), "flash.png")
    rect = doc.set_region(28, 16, 16, 16)
    assert rect == (28, 16, 16, 16) and doc.image.shape == (16, 16, 3)
    assert doc.guide.shape == (16, 16, 3)
    assert (~doc.mask.known).sum() == 16    # the painted 4x4 block lies inside the region
    doc.set_result(np.full((16, 16, 3), 0.25, np.float32), 5, "r")
    full = doc.full_result()
    assert full.shape == (48, 64, 3)
    assert np.all(full[16:32, 28:44] == 0.25)
    assert np.array_equal(full[:16], doc.full[:16])


def test_region_too_small_or_outside_is_refused():
    doc = Document()
    doc.open(_loaded())
    with pytest.raises(ValueError, match="too small"):
        doc.set_region(60, 40, 20, 20)   # clipped to 4 x 8
    assert doc.region is None
    assert doc.clamp_region(-10, -10, 30, 30) == (0, 0, 20, 20)


def test_superres_region_result_pastes_into_upscaled_whole():
    doc = Document()
    doc.open(_loaded())
    doc.set_region(8, 8, 16, 16)
    doc.set_result(np.zeros((32, 32, 3), np.float32), 1, "x2")
    full = doc.full_result()
    assert full.shape == (96, 128, 3) and np.all(full[16:48, 16:48] == 0)


def test_reference_fits_work_geometry_and_superres_factor():
    doc = Document()
    doc.open(_loaded())
    ref = np.random.default_rng(3).random((96, 128, 3)).astype(np.float32)
    doc.set_reference(ref)
    assert reference_factor(doc.full.shape, ref.shape) == 2
    assert doc.reference_for("superres", 2) is ref
    assert doc.reference_for("denoise") is None
    doc.set_region(8, 8, 16, 16)
    assert np.array_equal(doc.reference_for("superres", 2), ref[16:48, 16:48])
    with pytest.raises(DIPError, match="must be the same size"):
        doc.set_reference(np.zeros((50, 64, 3), np.float32))


def test_guide_of_wrong_size_is_refused_and_dropped_with_the_image():
    doc = Document()
    doc.open(_loaded())
    with pytest.raises(DIPError, match="flash photo is 10x10"):
        doc.set_guide(np.zeros((10, 10, 3), np.float32), "g")
    doc.set_guide(np.zeros((48, 64, 3), np.float32), "g")
    ev = Events(doc)
    doc.open(_loaded(seed=2))
    assert doc.guide is None and doc.guide_name is None and "guide_changed" in ev.seen


def test_mask_from_file_crops_whole_image_masks_to_the_region():
    doc = Document()
    doc.open(_loaded())
    doc.set_region(0, 0, 32, 32)
    full = np.ones((48, 64), bool)
    full[:4, :4] = False
    assert doc.mask_from_file(full).shape == (32, 32)
    with pytest.raises(MaskError, match="the mask is 10x10"):
        doc.mask_from_file(np.ones((10, 10), bool))


def test_saved_result_is_not_unsaved_and_file_rules():
    doc = Document()
    doc.open(_loaded(path=str(ROOT / "resources" / "sample_noisy.png")))
    assert doc.has_file
    doc.set_result(np.zeros((48, 64, 3), np.float32), 3, "x")
    assert doc.unsaved
    doc.mark_saved()
    assert not doc.unsaved and doc.result is not None
    loaded, _ref, note = doc.downscaled(0.5)
    assert loaded.array.shape == (24, 32, 3) and note == "downscaled from 64 x 48"
    doc.open(loaded, note=note)
    assert not doc.has_file   # downscaled pixels are in no file


def test_known_mask_is_none_when_nothing_is_painted():
    doc = Document()
    assert doc.known_mask() is None
    doc.open(_loaded())
    assert doc.known_mask() is None
    doc.mask.invert()
    assert doc.known_mask() is not None and not doc.known_mask().any()
