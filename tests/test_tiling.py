"""Photos at their real size: the plan (tiles, crops around the mask, estimate in words)."""
import numpy as np
import pytest

from engine.errors import ConfigError
from engine.presets import get_config
from engine.boxes import CROP_MARGIN, Box, mask_crops
from engine.tiling import (CPU_TILE_BYTES, MAX_UNIT_SIDE, axis_starts, grid, min_overlap, plan_job, unit_seed,
                           unit_weights)
from tests.helpers import TINY_NET


@pytest.mark.parametrize("length,tile,overlap", [(100, 64, 8), (1000, 384, 48), (4000, 512, 64), (513, 512, 64),
                                                 (64, 64, 8), (40, 64, 8)])
def test_tiles_cover_the_axis_evenly_with_at_least_the_overlap(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    for a, b in zip(starts, starts[1:]):
        assert b > a and a + size - b >= overlap       # neighbours share at least the overlap
        assert 2 * (a + size - b) < 2 * size           # and never a whole tile


@pytest.mark.parametrize("h,w,tile,overlap", [(96, 112, 64, 8), (300, 500, 128, 16), (130, 129, 64, 20)])
def test_blend_weights_sum_to_one_everywhere(h, w, tile, overlap):
    total = np.zeros((h, w))
    for box, ramps in grid(Box(0, 0, h, w), tile, overlap):
        from engine.tiling import Unit
        wts = unit_weights(Unit(0, box, 0, ramps))
        assert wts.shape == (box.height, box.width) and (wts > 0).all()
        total[box.slices()] += wts
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_super_resolution_weights_scale_with_the_factor():
    from engine.tiling import Unit
    (box, ramps), *_ = grid(Box(0, 0, 100, 100), 64, 16)
    w1, w4 = unit_weights(Unit(0, box, 0, ramps)), unit_weights(Unit(0, box, 0, ramps), 4)
    assert w4.shape == (4 * w1.shape[0], 4 * w1.shape[1])
    assert w4[-1, -1] < 0.01 and w4[0, 0] == 1.0


def test_crops_around_the_mask_merge_near_parts_and_keep_far_ones_apart():
    known = np.ones((1000, 2000), bool)
    known[100:110, 100:300] = False      # a scratch
    known[130:140, 320:330] = False      # a speck 20 px away: same crop
    known[800:900, 1500:1520] = False    # far away: its own crop
    crops = mask_crops(known, margin=32)
    assert len(crops) == 2
    a, b = crops
    assert (a.top, a.left, a.bottom, a.right) == (100 - 32, 100 - 32, 140 + 32, 330 + 32)
    assert (b.top, b.left, b.bottom, b.right) == (800 - 32, 1500 - 32, 900 + 32, 1520 + 32)
    # every pixel to fill is inside a crop, with the margin around it
    inside = np.zeros_like(known)
    for c in crops:
        inside[c.slices()] = True
    assert inside[~known].all()


def test_crops_are_clipped_to_the_image_and_an_all_known_mask_has_none():
    known = np.ones((300, 400), bool)
    assert mask_crops(known) == []
    known[0:5, 390:400] = False
    (c,) = mask_crops(known, margin=50)
    assert (c.top, c.left, c.bottom, c.right) == (0, 340, 55, 400)


def test_a_small_image_runs_whole_and_a_large_one_in_tiles_that_fit_the_memory():
    cfg = get_config("denoise-fast")
    small = plan_job(cfg, (192, 256), 3, device="cpu")
    assert small.mode == "whole" and len(small.units) == 1 and small.units[0].seed == cfg.seed
    big = plan_job(cfg, (3000, 4000), 3, device="cpu")
    assert big.mode == "tiles" and big.tile is not None and len(big.units) > 20
    assert big.step_bytes <= CPU_TILE_BYTES
    assert big.peak_bytes <= 2.0e9            # the bound for a 12 MP photo on a CPU
    assert big.overlap >= max(big.tile // 8, cfg.net.size_multiple())
    words = big.describe()
    assert "4000x3000" in words and f"{len(big.units)} tiles of {big.tile} px" in words
    assert "each tile stops by itself" in words and "about" in words


def test_a_forced_tile_and_overlap_are_used_and_a_bad_overlap_is_refused():
    cfg = get_config("denoise-fast")
    p = plan_job(cfg, (500, 700), 3, device="cpu", tile=256, overlap=40)
    assert p.tile == 256 and p.overlap == 40 and all(u.box.height == 256 for u in p.units)
    with pytest.raises(ConfigError, match="overlap"):
        plan_job(cfg, (500, 700), 3, device="cpu", tile=256, overlap=4)
    with pytest.raises(ConfigError, match="tile"):
        plan_job(cfg, (500, 700), 3, device="cpu", tile="sometimes")


def test_one_run_of_a_huge_photo_is_refused_with_the_reason_and_tiles_are_not():
    cfg = get_config("denoise")   # the paper's 128-channel net: ~100 GB at 12 MP
    off = plan_job(cfg, (3000, 4000), 3, device="cpu", tile="off", memory_bytes=24 * 2**30)
    assert off.mode == "whole" and off.problem and "tiles" in off.problem
    auto = plan_job(cfg, (3000, 4000), 3, device="cpu", memory_bytes=24 * 2**30)
    assert auto.problem is None and auto.tiled


def test_unit_seeds_follow_the_place_not_the_order():
    cfg = get_config("denoise-fast", seed=7)
    p = plan_job(cfg, (500, 700), 3, device="cpu", tile=256)
    q = plan_job(cfg, (500, 900), 3, device="cpu", tile=256)   # another grid: shared boxes keep their seeds
    seeds_p = {u.box: u.seed for u in p.units}
    for u in q.units:
        if u.box in seeds_p:
            assert seeds_p[u.box] == u.seed
    assert len({u.seed for u in p.units}) == len(p.units)
    assert unit_seed(7, Box(0, 0, 5, 5)) != unit_seed(8, Box(0, 0, 5, 5))


def test_inpainting_a_large_photo_plans_crops_around_the_mask():
    cfg = get_config("inpaint-fast")
    known = np.ones((3000, 4000), bool)
    known[1000:1150, 2000:2004] = False         # a 150 px scratch
    p = plan_job(cfg, (3000, 4000), 3, mask=known, device="cpu")
    assert p.mode == "crops" and len(p.crops) == 1 and len(p.units) == 1
    c = p.crops[0]
    assert c.height == 150 + 2 * CROP_MARGIN and c.width == 4 + 2 * CROP_MARGIN
    assert "1 crop around the mask" in p.describe() and "bit for bit" in p.describe()
    # a small image is inpainted as one run, as before
    small = plan_job(cfg, (192, 256), 3, mask=np.ones((192, 256), bool), device="cpu")
    assert small.mode == "whole"


def test_super_resolution_plans_low_resolution_tiles():
    cfg = get_config("sr-fast", scale=4)
    p = plan_job(cfg, (600, 800), 3, device="cpu")
    assert p.factor == 4 and p.out_hw == (2400, 3200) and p.tiled
    assert all(u.out_box(4).height == 4 * u.box.height for u in p.units)
    assert "-> 3200x2400" in p.describe()


def test_min_overlap_is_an_eighth_of_the_tile_and_at_least_the_nets_cell():
    cfg = get_config("denoise-fast", **TINY_NET)    # depth 3: 8 px cells
    assert min_overlap(cfg, 512) == 64
    assert min_overlap(get_config("denoise-fast"), 128) == 32   # depth 5: 32 px cells
    # super-resolution tiles its input: the net's 32 px cell is 8 input px at x4, so 1/8 of the tile rules
    sr = get_config("sr-fast", scale=4)
    assert min_overlap(sr, 128) == 16 and min_overlap(sr, 64) == 8
    assert len(plan_job(sr, (750, 1000), 3, device="cpu", tile=128).units) == 63  # 4000x3000 out: 88 with 32


def test_super_resolution_tiles_are_sized_by_what_the_net_draws():
    """The tile sizes auto weighs are of the output: at x4 a 64 px input tile (256 px drawn) is
    among them, and for a 12 MP output it is the cheapest (smaller units also wrote +0.4-1 dB,
    benchmarks/README.md); the other tasks' sizes are unchanged."""
    sr = get_config(None, task="superres", scale=4, device="cpu")
    big = plan_job(sr, (750, 1000), 3, device="cpu")
    assert big.tile == 64 and big.overlap == 8 and len(big.units) == 252
    assert big.describe().startswith("super-resolution 1000x750: 252 tiles of 64 px")
    assert plan_job(sr, (128, 128), 3, device="cpu").mode == "whole"       # fits one run: no faster in tiles
    assert plan_job(get_config(None, task="superres", scale=8, device="cpu"), (375, 500), 3, device="cpu").tile == 64
    assert plan_job(get_config(None, task="denoise", device="cpu"), (3000, 4000), 3, device="cpu").tile == 192


def test_a_preset_that_settles_only_on_small_units_tiles_anything_larger():
    """jpeg-fast's 1000 steps settle on 128 px units, not on a 384 px photo (benchmarks/README.md):
    auto tiles past that side whatever the time model prefers; an explicit choice is obeyed."""
    cfg = get_config(None, task="jpeg", device="cpu")
    assert cfg.preset == "jpeg-fast" and MAX_UNIT_SIDE["jpeg-fast"] == 128
    assert plan_job(cfg, (128, 96), 3, device="cpu").mode == "whole"
    big = plan_job(cfg, (384, 384), 3, device="cpu")
    assert big.mode == "tiles" and big.tile == 128 and len(big.units) == 16
    assert big.describe().startswith("JPEG 384x384: 16 tiles of 128 px")     # the task as a word
    assert all(max(u.box.height, u.box.width) <= 128 for u in big.units)
    assert plan_job(cfg, (3000, 4000), 3, device="cpu").tile == 128
    assert plan_job(cfg, (384, 384), 3, device="cpu", tile="off").mode == "whole"
    assert plan_job(cfg, (384, 384), 3, device="cpu", tile=192).tile == 192
    # the paper's preset (the GPU's default) keeps its own plan: one run where it fits
    assert plan_job(get_config("jpeg", device="cpu"), (384, 384), 3, device="cpu").mode == "whole"
