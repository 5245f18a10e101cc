"""RunConfig / NetConfig validation: types as declared, ranges, and the seed (issue 7).
The app and the CLI both build configs, so a wrong value must be a one-line ConfigError
here, never a crash later in the run."""
import math

import pytest

from engine.config import MAX_SEED, SCALES, NetConfig, RunConfig, check_types
from engine.errors import ConfigError, DIPError
from engine.presets import PRESETS, get_config

TINY = dict(channels_down=[8, 8], channels_up=[8, 8], channels_skip=[2, 2])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_has_the_declared_types(name):
    cfg = get_config(name)
    check_types(cfg)
    check_types(cfg.net)
    assert RunConfig.from_dict(cfg.to_dict()).validate() == cfg


@pytest.mark.parametrize("overrides, field", [
    (dict(ema="abc"), "ema"),
    (dict(sigma_p=None), "sigma_p"),
    (dict(channels_down="abc"), "channels_down"),   # not a list of characters
    (dict(channels_down=[8, "8"]), "channels_down"),
    (dict(channels_down=(8, 8)), "channels_down"),
    (dict(input_scale=math.nan), "input_scale"),
    (dict(lr=math.inf), "lr"),
    (dict(memory_budget_mb=0.001), "memory_budget_mb"),
    (dict(iterations=2.0), "iterations"),
    (dict(iterations=True), "iterations"),
    (dict(seed="0"), "seed"),
    (dict(need1x1_up="yes"), "need1x1_up"),
    (dict(upsample=3), "upsample"),
    (dict(kernel_down=[3, None]), "kernel_down"),
    (dict(backtrack_db="off"), "backtrack_db"),
    (dict(preset=5), "preset"),
    (dict(holdout=None), "holdout"),
])
def test_wrong_types_are_named(overrides, field):
    with pytest.raises(ConfigError) as e:
        get_config(task="denoise", **TINY | overrides)
    msg = str(e.value)
    assert msg.startswith(field) and "\n" not in msg


@pytest.mark.parametrize("value", [-1.0, 101.0, math.nan])
def test_ema_warmup_out_of_range_is_refused(value):
    with pytest.raises(ConfigError, match="ema_warmup"):
        get_config(task="denoise", **TINY | dict(ema_warmup=value))


def test_a_string_is_not_read_as_a_list_of_levels():
    with pytest.raises(ConfigError, match="list of whole numbers"):
        get_config(task="denoise", channels_down="abc")


@pytest.mark.parametrize("net", [5, "skip", [1, 2], None])
def test_net_must_be_settings(net):
    with pytest.raises(ConfigError, match="net must be"):
        get_config(task="denoise", net=net)
    with pytest.raises(ConfigError, match="net must be"):
        RunConfig(net=net).validate()


def test_net_as_a_dict_is_fine_and_unknown_keys_are_named():
    assert get_config(task="denoise", net={"arch": "unet"}).net.arch == "unet"
    with pytest.raises(ConfigError, match="bogus"):
        get_config(task="denoise", net={"bogus": 1})


@pytest.mark.parametrize("seed, ok", [(0, True), (MAX_SEED, True), (MAX_SEED + 1, False), (2**64 - 1, False),
                                      (-1, False)])
def test_seed_range(seed, ok):
    if ok:
        assert get_config(task="denoise", seed=seed).seed == seed
    else:
        with pytest.raises(ConfigError, match="seed"):
            get_config(task="denoise", seed=seed)


def test_scales_agree_with_the_message():
    assert SCALES == (2, 3, 4, 8)
    for s in SCALES:
        assert get_config(task="superres", scale=s).scale == s
    for s in (0, 1, 5, 16):
        with pytest.raises(ConfigError, match="2, 3, 4 or 8"):
            get_config(task="superres", scale=s)


@pytest.mark.parametrize("overrides, words", [
    (dict(kernel_down=2), "kernel_down"),
    (dict(kernel_up=[3, 4]), "kernel_up"),
    (dict(kernel_skip=0), "kernel_skip"),
    (dict(es_window=10**9), "es_window"),
    (dict(input_scale=0), "input_scale"),
    (dict(memory_budget_mb=0), "memory"),
])
def test_ranges_checked_in_validate(overrides, words):
    with pytest.raises(ConfigError, match=words):
        get_config(task="denoise", **TINY | overrides)


def test_ints_are_fine_for_float_fields_and_none_where_declared():
    cfg = get_config(task="denoise", lr=1, sigma_p=0, ema=0, backtrack_db=None)
    assert cfg.lr == 1 and cfg.backtrack_db is None


def test_config_errors_are_dip_errors():
    assert issubclass(ConfigError, DIPError)
    with pytest.raises(DIPError):
        RunConfig(net=NetConfig(channels_down="ab")).validate()
