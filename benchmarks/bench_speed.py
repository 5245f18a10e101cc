"""Seconds per step and peak memory of the engine's loop against a plain PyTorch loop.

    python benchmarks/bench_speed.py [--sizes 128,256,512] [--presets denoise,jpeg,...]
                                     [--archs skip,hourglass,unet,resnet] [--steps 5] [--device cpu]
    python benchmarks/bench_speed.py --smoke --out PATH    # seconds: denoise-fast at 48 px, 2 steps, one process

For every preset (its own network) and every architecture (the --arch-preset's settings
with that network) at every size, two subprocesses run:
  engine     Restoration(cfg, ...).steps() at the preset's observation cadence (EMA,
             ES-WMV window, backtracking checkpoints, previews/snapshots when due);
  reference  the same network from build_net, the same input z and jitter, Adam and the
             task's MSE data term, one loss.item() per step, and nothing else.
Each reports the median seconds of --steps steps after --warmup steps, and its peak
memory: the process's ru_maxrss on the CPU (a fresh process per case, so one case's peak
cannot hide the next one's), torch.cuda.max_memory_allocated on a GPU. 'size' is the
output's side (for super-resolution the LR input is size / scale). A case predicted (from
the previous size, or engine.estimate for the first) to take longer than --max-seconds or
more memory than is free is skipped with a note, and so is one that times out.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from common import (OUT_DIR, SMOKE_HELP, BenchError, Column, environment, fnum, log, markdown_table,
                    text_table, write_json)

DEFAULT_PRESETS = "denoise,jpeg,inpaint-hole,inpaint-hole-deep,sr4,flash"
DEFAULT_ARCHS = "skip,hourglass,unet,resnet"
RESULT_TAG = "BENCH_SPEED_RESULT "
STARTUP_S = 8.0          # a child's import + setup, added to predictions
MEMORY_HEADROOM = 0.85   # of the free memory a case may be predicted to use


@dataclass(frozen=True)
class Case:
    preset: str
    arch: str | None     # None: the preset's own network


# ------------------------------------------------------------------------------ child

def _synthetic(h: int, w: int, c: int, seed: int) -> Any:
    """A smooth image plus texture; the content does not change the cost of a step."""
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(xx / max(w, 1) * 6.0 + rng.random() * 3)[:, :, None] \
        * np.cos(yy / max(h, 1) * 4.0)[:, :, None]
    img = base + 0.1 * rng.standard_normal((h, w, c)).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def build_inputs(cfg: Any, size: int) -> dict[str, Any]:
    """image / mask / guide for the preset's task, with a size x size result."""
    import numpy as np
    from engine.errors import ConfigError
    task = cfg.task
    if task == "superres":
        if size % cfg.scale:
            raise ConfigError(f"size {size} is not a multiple of the scale {cfg.scale}")
        return {"image": _synthetic(size // cfg.scale, size // cfg.scale, 3, 1), "mask": None, "guide": None}
    out: dict[str, Any] = {"image": _synthetic(size, size, 3, 1), "mask": None, "guide": None}
    if task == "inpaint":
        out["mask"] = np.random.default_rng(2).random((size, size)) >= 0.5
    if task == "flash" or cfg.input_kind == "guide":
        out["guide"] = _synthetic(size, size, 3, 3)
    return out


def _device_peak(device: Any) -> int | None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device))
    return None


def _rss_bytes() -> int | None:
    """This process's peak resident memory so far (None where ``resource`` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    # Linux reports ru_maxrss in KiB, macOS in bytes
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)


def engine_stepper(cfg: Any, inputs: dict[str, Any]) -> tuple[dict[str, Any], Iterator[Any], Any]:
    from engine.run import Restoration
    run = Restoration(cfg, inputs["image"], mask=inputs["mask"], guide=inputs["guide"])
    return {"parameters": run.param_count, "device_name": run.device_name}, run.steps(), run


def reference_stepper(cfg: Any, inputs: dict[str, Any], device: Any) -> tuple[dict[str, Any], Iterator[None]]:
    """The loop a person writes from the paper: net, fixed z + jitter, Adam, MSE. The net,
    input and data term are the engine's own (build_net, make_input, Downsampler), so the
    difference is the engine's bookkeeping only."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from engine.inputs import input_channels, make_input
    from engine.lanczos import Downsampler
    from engine.nets import build_net, count_params

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None].to(device)

    image, mask, guide = inputs["image"], inputs["mask"], inputs["guide"]
    c = image.shape[2]
    h, w = image.shape[:2]
    if cfg.task == "superres":
        h, w = h * cfg.scale, w * cfg.scale
    m = cfg.net.size_multiple()
    hp, wp = -(-h // m) * m, -(-w // m) * m
    top, left = (hp - h) // 2, (wp - w) // 2
    gen = torch.Generator().manual_seed(cfg.seed)
    z = make_input(cfg.input_kind, cfg.input_channels, hp, wp, scale=cfg.input_scale, generator=gen,
                   guide=guide, crop_box=(top, left)).to(device)
    torch.manual_seed(cfg.seed)
    net = build_net(cfg.net, input_channels(cfg.input_kind, cfg.input_channels, guide), c).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    target = tensor(image)
    if cfg.task == "inpaint":
        mt = tensor(mask[:, :, None].astype(np.float32))
        target = target * mt

        def data_term(out: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(out * mt, target)
    elif cfg.task == "superres":
        down = Downsampler(cfg.scale, c).to(device)

        def data_term(out: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(down(out), target)
    else:
        def data_term(out: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(out, target)

    def steps() -> Iterator[None]:
        for _ in range(cfg.iterations):
            zin = z + torch.randn_like(z) * cfg.sigma_p if cfg.sigma_p > 0 else z
            out = net(zin)[:, :, top:top + h, left:left + w]
            loss = data_term(out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()    # the one host sync per step that the engine (and the authors' loop) has
            yield None

    return {"parameters": count_params(net)}, steps()


def _timed(steps: Iterator[Any]) -> list[float]:
    times: list[float] = []
    t = time.perf_counter()
    for _ in steps:
        now = time.perf_counter()
        times.append(now - t)
        t = now
    return times


def time_engine(cfg: Any, inputs: dict[str, Any]) -> tuple[list[float], dict[str, Any]]:
    info, steps, run = engine_stepper(cfg, inputs)
    times = _timed(steps)
    info["backtracks"] = run.backtracks
    return times, info


def time_reference(cfg: Any, inputs: dict[str, Any], device: Any) -> tuple[list[float], dict[str, Any]]:
    info, steps = reference_stepper(cfg, inputs, device)
    return _timed(steps), info


def time_interleaved(cfg: Any, inputs: dict[str, Any], device: Any) -> tuple[list[float], dict[str, Any]]:
    """Engine and reference steps alternating in one process: machine drift (other VMs,
    clock changes) hits both alike, so their ratio is far steadier than across processes."""
    info, eng, run = engine_stepper(cfg, inputs)
    _, ref = reference_stepper(cfg, inputs, device)
    te: list[float] = []
    tr: list[float] = []
    for _ in range(cfg.iterations):
        t = time.perf_counter()
        next(eng)
        t1 = time.perf_counter()
        next(ref)
        tr.append(time.perf_counter() - t1)
        te.append(t1 - t)
    info["ref_step_times"] = tr
    info["backtracks"] = run.backtracks
    return te, info


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process; never raises."""
    res: dict[str, Any] = {"spec": spec}
    try:
        import torch
        from engine.device import describe, is_oom, pick_device
        from engine.errors import DIPError
        from engine.presets import get_config
        if spec.get("threads"):
            torch.set_num_threads(int(spec["threads"]))
        over: dict[str, Any] = dict(iterations=spec["warmup"] + spec["steps"], device=spec["device"], seed=0)
        if spec["arch"]:
            over["arch"] = spec["arch"]
        cfg = get_config(spec["preset"], **over)
        device = pick_device(cfg.device)
        res["device"] = describe(device)
        if device.type == "cuda":
            res["device_total_bytes"] = torch.cuda.get_device_properties(device).total_memory
        inputs = build_inputs(cfg, spec["size"])
        res["base_rss_bytes"] = _rss_bytes()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        try:
            if spec["mode"] == "engine":
                times, info = time_engine(cfg, inputs)
            elif spec["mode"] == "interleaved":
                times, info = time_interleaved(cfg, inputs, device)
                info["ref_median_s"] = statistics.median(info["ref_step_times"][spec["warmup"]:])
            else:
                times, info = time_reference(cfg, inputs, device)
        except DIPError as exc:
            res["error"] = str(exc)
            return res
        except Exception as exc:
            if is_oom(exc):
                res["error"] = f"out of memory ({str(exc).splitlines()[0][:120]})"
                return res
            raise
        res.update(info)
        res["wall_s"] = time.perf_counter() - t0
        timed = times[spec["warmup"]:]
        res["step_times"] = times
        res["median_s"] = statistics.median(timed)
        res["mean_s"] = statistics.fmean(timed)
        # the engine always previews and snapshots on the last step of steps(): its extra cost
        # over a plain step is the price of one observation (amortised over preview_every)
        res["observe_s"] = max(0.0, times[-1] - statistics.median(timed[:-1])) \
            if spec["mode"] == "engine" and len(timed) > 1 else None
        res["preview_every"] = cfg.preview_every
        res["peak_rss_bytes"] = _rss_bytes()
        res["peak_device_bytes"] = _device_peak(device)
        res["threads"] = torch.get_num_threads()
    except Exception as exc:    # the parent prints it in the row's note
        res["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    return res


# ------------------------------------------------------------------------------ parent

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,256,512", help="output sides, comma list")
    ap.add_argument("--presets", default=DEFAULT_PRESETS, help="comma list of presets ('' for none)")
    ap.add_argument("--archs", default=DEFAULT_ARCHS, help="comma list of architectures ('' for none), "
                    "each with the --arch-preset's other settings")
    ap.add_argument("--arch-preset", default="denoise", help="the preset the --archs rows vary (default denoise)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median) after the warm-up")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--threads", type=int, help="torch threads in each case (default torch's)")
    ap.add_argument("--modes", default="interleaved,engine,reference",
                    help="interleaved (both loops alternating in one process: the timings), "
                         "engine, reference (separate processes: the memory)")
    ap.add_argument("--max-seconds", type=float, default=300.0,
                    help="budget per case and loop (predicted or actual); over it the case is skipped")
    ap.add_argument("--out", default=str(OUT_DIR / "speed.json"), help="JSON report")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": denoise-fast at 48 px on the CPU, one "
                    "thread, both loops interleaved in one child, 2 steps after 1")
    a = ap.parse_args(argv)
    if a.smoke and not a.child:
        a.sizes, a.presets, a.archs, a.modes = "48", "denoise-fast", "", "interleaved"
        a.steps, a.warmup, a.device, a.threads = 2, 1, "cpu", 1
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    return a


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def plan_cases(presets: list[str], archs: list[str], arch_preset: str) -> list[Case]:
    from engine.config import ARCHS
    from engine.presets import PRESETS
    for p in presets + [arch_preset]:
        if p not in PRESETS:
            raise BenchError(f"unknown preset '{p}': choose from {', '.join(PRESETS)}")
    for arch in archs:
        if arch not in ARCHS:
            raise BenchError(f"unknown architecture '{arch}': choose from {', '.join(ARCHS)}")
    cases = [Case(p, None) for p in presets]
    own = PRESETS[arch_preset].settings.get("net", {}).get("arch", "skip")
    for arch in archs:
        if arch == own and arch_preset in presets:
            continue    # the preset's own row already is this one
        cases.append(Case(arch_preset, None if arch == own else arch))
    seen, out = set(), []
    for c in cases:
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def free_memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate(case: Case, size: int, device: str) -> tuple[float | None, int | None, str | None]:
    """engine.estimate's seconds per step and bytes, or Nones where it cannot say."""
    try:
        from engine.estimate import estimate_cost
        from engine.presets import get_config
        cfg = get_config(case.preset, **({"arch": case.arch} if case.arch else {}))
        h = w = size // cfg.scale if cfg.task == "superres" else size
        out_h, out_w = (h * cfg.scale, w * cfg.scale) if cfg.task == "superres" else (h, w)
        dev = "cpu" if device == "auto" else device
        e = estimate_cost(cfg, out_h, out_w, dev)
        return e.seconds_per_step, e.bytes, e.problem
    except Exception:
        return None, None, None


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"spec": spec, "skipped": f"timed out after {timeout:.0f} s (--max-seconds)"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1][:160]
    if p.returncode < 0:
        sig = -p.returncode
        why = "killed (out of memory?)" if sig == 9 else f"killed by signal {sig}"
        return {"spec": spec, "error": why}
    return {"spec": spec, "error": f"exit {p.returncode}: {tail}"}


def predict(prev: dict[str, Any] | None, size: int, est: tuple[float | None, int | None, str | None],
            total_steps: int) -> tuple[float | None, int | None]:
    """Seconds and peak bytes of a case at ``size``: from the previous size of the same case
    scaled by the pixel count, or from engine.estimate for the first one."""
    if prev and prev.get("median_s") is not None:
        r = (size / prev["spec"]["size"]) ** 2
        secs = STARTUP_S + prev["median_s"] * r * total_steps
        peak = prev.get("peak_device_bytes") or prev.get("peak_rss_bytes")
        base = 0 if prev.get("peak_device_bytes") else prev.get("base_rss_bytes") or 0
        return secs, int(base + (peak - base) * r) if peak else None
    sps, nbytes, _ = est
    return (None if sps is None else STARTUP_S + sps * total_steps), nbytes


def summarise(case: Case, size: int, res: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from engine.presets import PRESETS
    eng, ref = res.get("engine", {}), res.get("reference", {})
    arch = case.arch or PRESETS[case.preset].settings.get("net", {}).get("arch", "skip")
    row: dict[str, Any] = {"preset": case.preset, "arch": arch, "size": f"{size}",
                           "params": (eng.get("parameters") or ref.get("parameters"))}
    row["params_m"] = None if row["params"] is None else row["params"] / 1e6
    row["engine_s"] = eng.get("median_s")
    row["ref_s"] = ref.get("median_s")
    both = res.get("interleaved", {})
    if both.get("median_s") is not None and both.get("ref_median_s") is not None:
        # timings from the alternating run; the separate runs still give the memory
        row["engine_s"], row["ref_s"] = both["median_s"], both["ref_median_s"]
    row["overhead"] = (100.0 * (row["engine_s"] - row["ref_s"]) / row["ref_s"]
                       if row["engine_s"] is not None and row["ref_s"] else None)
    row["observe_s"] = eng.get("observe_s")
    row["amortised"] = (100.0 * (row["engine_s"] + row["observe_s"] / eng["preview_every"] - row["ref_s"])
                        / row["ref_s"] if row["overhead"] is not None and row["observe_s"] is not None else None)

    def mb(r: dict[str, Any]) -> float | None:
        b = r.get("peak_device_bytes") or r.get("peak_rss_bytes")
        return None if b is None else b / 2**20
    row["engine_mb"], row["ref_mb"] = mb(eng), mb(ref)
    whys = {mode: r.get("skipped") or r.get("error") for mode, r in (("engine", eng), ("reference", ref)) if r}
    if len(whys) == 2 and len(set(whys.values())) == 1 and whys["engine"]:
        notes = [f"both: {whys['engine']}"]
    else:
        notes = [f"{mode}: {why}" for mode, why in whys.items() if why]
    if eng.get("backtracks"):
        notes.append(f"engine: {eng['backtracks']} backtracks")
    row["note"] = "; ".join(notes)
    return row


def columns() -> list[Column]:
    return [
        Column("preset", "preset", 17, str, "<"),
        Column("arch", "arch", 9, str, "<"),
        Column("size", "size", 4),
        Column("params_m", "params M", 8, fnum(2)),
        Column("engine_s", "engine s/step", 13, fnum(3)),
        Column("ref_s", "ref s/step", 10, fnum(3)),
        Column("overhead", "overhead %", 10, fnum(1)),
        Column("amortised", "+preview %", 10, fnum(1)),
        Column("engine_mb", "engine MB", 9, fnum(0)),
        Column("ref_mb", "ref MB", 7, fnum(0)),
        Column("note", "note", 4, str, "<"),
    ]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.child:
        print(RESULT_TAG + json.dumps(child(json.loads(a.child))), flush=True)
        return 0

    sizes = sorted({int(s) for s in _split(a.sizes)})
    if not sizes or min(sizes) < 8:
        raise BenchError("--sizes needs sides of at least 8")
    modes = [m for m in _split(a.modes) if m in ("engine", "reference", "interleaved")]
    if not modes:
        raise BenchError("--modes must name engine, reference and/or interleaved")
    cases = plan_cases(_split(a.presets), _split(a.archs), a.arch_preset)
    if not cases:
        raise BenchError("nothing to run: give --presets or --archs")
    import torch
    report: dict[str, Any] = {
        "benchmark": "speed",
        "settings": {"sizes": sizes, "cases": [c.__dict__ for c in cases], "steps": a.steps,
                     "warmup": a.warmup, "device": a.device, "threads": a.threads, "modes": modes,
                     "max_seconds": a.max_seconds, "statistic": "median seconds per step after warm-up",
                     "memory": "CUDA: torch.cuda.max_memory_allocated; CPU: ru_maxrss of a fresh process "
                               "per case (includes Python + torch, ~0.3-0.5 GB)"},
        "environment": {**environment(a.device), "torch_cuda": torch.version.cuda},
        "results": [],
        "complete": False,
    }
    total = a.warmup + a.steps
    log(f"{len(cases)} cases x {len(sizes)} sizes x {len(modes)} loops, {a.warmup}+{a.steps} steps each, "
        f"device {a.device}, budget {a.max_seconds:.0f} s per loop; JSON -> {a.out}")
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    interrupted = False
    try:
        for case in cases:
            prev: dict[str, dict[str, Any]] = {}
            for size in sizes:
                est = estimate(case, size, a.device)
                res: dict[str, dict[str, Any]] = {}
                for mode in modes:
                    spec = {"mode": mode, "preset": case.preset, "arch": case.arch, "size": size,
                            "steps": a.steps, "warmup": a.warmup, "device": a.device, "threads": a.threads}
                    secs, nbytes = predict(prev.get(mode), size, est, total)
                    free = free_memory_bytes() if a.device in ("cpu", "auto") else None
                    dev_total = (prev.get(mode) or {}).get("device_total_bytes")
                    if est[2]:
                        r = {"spec": spec, "skipped": f"cannot run: {est[2]}"}
                    elif secs is not None and secs > a.max_seconds:
                        r = {"spec": spec, "skipped": f"predicted {secs:.0f} s > --max-seconds {a.max_seconds:.0f}"}
                    elif nbytes and free and nbytes > MEMORY_HEADROOM * free:
                        r = {"spec": spec, "skipped": f"predicted {nbytes / 2**30:.1f} GiB > "
                                                      f"{MEMORY_HEADROOM:.0%} of {free / 2**30:.1f} GiB free"}
                    elif nbytes and dev_total and nbytes > MEMORY_HEADROOM * dev_total:
                        r = {"spec": spec, "skipped": f"predicted {nbytes / 2**30:.1f} GiB > "
                                                      f"{MEMORY_HEADROOM:.0%} of the GPU's memory"}
                    else:
                        r = run_child(spec, a.max_seconds)
                    r.setdefault("prediction", {"seconds": secs, "bytes": nbytes})
                    res[mode] = r
                    if r.get("median_s") is not None:
                        prev[mode] = r
                    label = f"{case.preset}{'/' + case.arch if case.arch else ''} {size} {mode}"
                    if r.get("median_s") is not None:
                        peak = (r.get("peak_device_bytes") or r.get("peak_rss_bytes") or 0) / 2**20
                        log(f"  {label}: {r['median_s']:.4f} s/step, peak {peak:.0f} MB, {r['wall_s']:.1f} s")
                    else:
                        log(f"  {label}: {r.get('skipped') or r.get('error')}")
                row = summarise(case, size, res)
                rows.append(row)
                report["results"].append({"case": case.__dict__, "size": size, "row": row, "runs": res})
                write_json(a.out, report)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: reporting the cases done so far")

    if not rows:
        return 130 if interrupted else 1
    cols = columns()
    dev = next((r["runs"][m].get("device") for r in report["results"] for m in r["runs"]
                if r["runs"][m].get("device")), a.device)
    foot = [
        f"median seconds per Adam step over {a.steps} steps after {a.warmup} warm-up, on {dev}"
        + (", engine and reference steps alternating in one process, " if "interleaved" in modes else ", ") +
        f"torch {torch.__version__}; size = output side (super-resolution input = size / scale).",
        "overhead % = engine over the reference loop (same net, z, jitter, Adam, MSE); +preview % adds the "
        "engine's observation step (preview + snapshot, timed on its last step) amortised over its cadence.",
        "MB = peak " + ("GPU memory allocated" if "cuda" in str(dev) else
                        "resident memory of the case's own process (Python + torch included)") + ".",
    ]
    print(text_table(cols, rows))
    print("\n".join(foot))
    if a.markdown:
        print()
        print(markdown_table(cols, rows))
        print()
        print("\n".join("- " + f for f in foot))
    report["complete"] = not interrupted
    report["total_seconds"] = time.perf_counter() - t_all
    write_json(a.out, report)
    log(f"wrote {a.out} ({time.perf_counter() - t_all:.0f} s)")
    return 130 if interrupted else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
