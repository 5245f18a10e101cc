"""A folder in one command: the local executor against Ray, on this machine.

    python benchmarks/bench_batch.py [--crops 8] [--size 64] [--steps 400] [--images F16,...] [--runs 1]
    python benchmarks/bench_batch.py --smoke --out PATH   # seconds: 2 made-up 48 px crops, 5 steps, local modes

Eight small crops (centre crops of CBM3D9 images, sigma 25 noise) are restored by the
same ``restore --input DIR --output DIR`` command, each mode in its own process, its wall
time measured around the whole command (Python start, Ray start or join, every unit, the
writes):

- ``local``: the default executor with this machine's threads: on a CPU the units run in
  lanes side by side, one torch thread each (units of one seed: ``--runs 1``, or photos over
  the preset's seed limit), otherwise one after the other;
- ``localN``: ``--threads N`` (this machine's threads): one unit after the other, all threads
  each (the default before lanes);
- ``local, 1 thread``: the same with ``--threads 1`` (the pixels Ray's units give: equal bit for bit);
- ``--ray``: a Ray started on this machine by the command (one thread per unit, as many units
  at once as there are cores);
- ``--ray auto``, two nodes: a head and a worker started here with ``ray start --head
  --num-cpus 1`` and ``ray start --address ... --num-cpus 1`` (each its own raylet and object
  store: the cluster path, units and images crossing between nodes), ended afterwards by
  the ids of the ``ray start --block`` processes this script started.

Every output is compared with the ``local, 1 thread`` one (equal arrays, and the PSNR
between them). Prints a table and writes JSON to benchmarks/out/batch.json. Run it with
nothing else on the CPU.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (OUT_DIR, SMOKE_HELP, BenchError, Column, centre_crop, data_dir, environment, fnum, log,
                    markdown_table, package_version, select_images, smoke_data, text_table, write_json)

ROOT = Path(__file__).resolve().parents[1]


def make_crops(src: Path, out: Path, names: str | None, n: int, size: int) -> list[Path]:
    from engine.degrade import add_noise
    from engine.imageio import load_image, save_image

    images = select_images(src, names)
    if len(images) < n:
        raise BenchError(f"{src} has {len(images)} images, {n} crops asked for")
    out.mkdir(parents=True)
    made = []
    for i, p in enumerate(images[:n]):
        crop = centre_crop(load_image(p).array, size)
        q = out / f"{p.stem}.png"
        save_image(q, add_noise(crop, 25.0, seed=i))
        made.append(q)
    return made


def run_cli(args: list[str], env: dict | None = None) -> tuple[float, str]:
    cmd = [sys.executable, str(ROOT / "main.py"), "restore", *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise BenchError(f"{' '.join(args[:6])}... exited {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
    return wall, p.stderr


def compare(a_dir: Path, b_dir: Path, names: list[str]) -> tuple[bool, float]:
    """(all arrays equal, the lowest PSNR between them)."""
    from engine.imageio import load_image
    from engine.metrics import task_psnr

    equal, worst = True, float("inf")
    for n in names:
        a, b = load_image(a_dir / n).array, load_image(b_dir / n).array
        if not np.array_equal(a, b):
            equal = False
            worst = min(worst, task_psnr("denoise", a, b))   # the denoising protocol: all channels
    return equal, worst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli() -> str:
    p = Path(sys.executable).with_name("ray")
    if not p.exists():
        raise BenchError("the ray command is not installed beside this Python: pip install -e \".[cluster]\"")
    return str(p)


def start_two_nodes(tmp: Path) -> tuple[list[subprocess.Popen], str]:
    """A head and a worker node, one CPU each, on this machine; the processes to end later."""
    port = free_port()
    ray = ray_cli()
    # Ray >= 2.5x asks for a token between processes of a cluster (~/.ray/auth_token): the
    # nodes, this script and the command all use it
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    logs = tmp / "ray-logs"
    logs.mkdir()
    head = subprocess.Popen([ray, "start", "--head", "--num-cpus", "1", "--num-gpus", "0", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--block",
                             "--disable-usage-stats"],
                            stdout=open(logs / "head.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    procs = [head]
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in (logs / "head.log").read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            stop_nodes(procs)
            raise BenchError(f"the head node did not start: {(logs / 'head.log').read_text()[-400:]}")
        time.sleep(0.5)
    worker = subprocess.Popen([ray, "start", "--address", address, "--num-cpus", "1", "--num-gpus", "0",
                               "--node-ip-address", "127.0.0.1", "--block", "--disable-usage-stats"],
                              stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    procs.append(worker)
    import ray as ray_mod
    ray_mod.init(address=address, log_to_driver=False)
    try:
        while sum(1 for n in ray_mod.nodes() if n.get("Alive")) < 2:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the worker node did not join: {(logs / 'worker.log').read_text()[-400:]}")
            time.sleep(0.5)
    except BaseException:
        ray_mod.shutdown()
        stop_nodes(procs)
        raise
    ray_mod.shutdown()
    return procs, address


def stop_nodes(procs: list[subprocess.Popen]) -> None:
    """End the ``ray start --block`` processes this script started (each stops its node)."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)     # its own session: only what it started
            p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="datasets folder (default ../shared/datasets)")
    ap.add_argument("--images", help="CBM3D9 image names, comma-separated (default: the first N)")
    ap.add_argument("--crops", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="crop side in pixels")
    ap.add_argument("--steps", type=int, default=400, help="steps per crop (--stop never: the same work each mode)")
    ap.add_argument("--runs", type=int, help="seeds per crop (default: the preset's; 1 lets small crops run in lanes)")
    ap.add_argument("--modes", default="local,local1,ray,ray2",
                    help="which of local (this machine's threads; lanes), localN (--threads N: one at a time), "
                         "local1, ray, ray2 (two nodes) to run; local1 is always run (the reference pixels)")
    ap.add_argument("--out", default=str(OUT_DIR / "batch.json"))
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": 2 made-up 48 px crops, 5 steps, one seed, "
                    "the local modes only")
    a = ap.parse_args(argv)
    if a.smoke:
        a.data, a.images, a.crops, a.size, a.steps, a.modes = str(smoke_data(["CBM3D9"])), None, 2, 48, 5, "local"
    try:
        src = data_dir(a.data) / "CBM3D9"
        tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
        if a.smoke:
            import atexit
            import shutil
            atexit.register(shutil.rmtree, tmp, True)
        crops = make_crops(src, tmp / "in", a.images, a.crops, a.size)
        names = [p.name for p in crops]
        common = ["--task", "denoise", "--input", str(tmp / "in"), "--iterations", str(a.steps), "--stop", "never",
                  "--quiet"] + (["--runs", "1"] if a.smoke else ["--runs", str(a.runs)] if a.runs else [])
        import torch
        threads = torch.get_num_threads()
        load0 = os.getloadavg()[0]
        rows: list[dict] = []

        def mode(label: str, key: str, extra: list[str], per_unit: int, at_once: int, env=None) -> None:
            log(f"{label} ...")
            wall, _ = run_cli(common + ["--output", str(tmp / key)] + extra, env)
            rows.append({"mode": label, "key": key, "threads_per_unit": per_unit, "at_once": at_once,
                         "wall_s": wall, "units_per_min": 60 * len(names) / wall})

        modes = set(a.modes.split(",")) | {"local1"}
        if "local" in modes:
            lanes = threads if (a.smoke or a.runs == 1) else None
            mode(f"local ({threads} threads" + (f": {lanes} lanes)" if lanes else ")"), "local", [],
                 1 if lanes else threads, lanes or 1)
        if "localN" in modes:
            mode(f"local, --threads {threads}", "localN", ["--threads", str(threads)], threads, 1)
        mode("local, 1 thread", "local1", ["--threads", "1"], 1, 1)
        if "ray" in modes:
            mode("--ray (a Ray on this machine)", "ray", ["--ray"], 1, os.cpu_count() or 1)
        if "ray2" in modes:
            procs, address = start_two_nodes(tmp)
            try:
                mode("--ray auto, 2 nodes x 1 CPU", "ray2", ["--ray", "auto"], 1, 2, env={"RAY_ADDRESS": address})
            finally:
                stop_nodes(procs)
        by_key = {r["key"]: r["wall_s"] for r in rows}
        base, base1 = by_key.get("local"), by_key["local1"]
        for r in rows:
            r["vs_local"] = None if base is None else r["wall_s"] / base
            r["vs_local_1"] = r["wall_s"] / base1
            if r["key"] != "local1":
                equal, worst = compare(tmp / "local1", tmp / r["key"], names)
                r["equal_to_local_1"] = equal
                r["min_psnr_vs_local_1"] = None if equal else worst
            else:
                r["equal_to_local_1"] = True
        cols = [Column("mode", "mode", 30, align="<"), Column("threads_per_unit", "threads/unit", 6),
                Column("at_once", "units at once", 6), Column("wall_s", "wall s", 7, fnum(1)),
                Column("units_per_min", "units/min", 7, fnum(1)), Column("vs_local", "x local", 6, fnum(3)),
                Column("vs_local_1", "x local 1 thr", 6, fnum(3)),
                Column("equal_to_local_1", "= local 1 thr", 5, lambda v: "yes" if v else "no"),
                Column("min_psnr_vs_local_1", "min PSNR dB", 6, fnum(1))]
        print(f"{len(names)} crops of {a.size} px, denoise, {a.steps} steps each (--stop never), "
              f"{os.cpu_count()} cores, load average before {load0:.2f}, after {os.getloadavg()[0]:.2f}")
        print(text_table(cols, rows))
        print()
        print(markdown_table(cols, rows))
        write_json(a.out, {"environment": {**environment("cpu"), "ray": package_version("ray")},
                           "crops": names, "size": a.size, "steps": a.steps, "rows": rows,
                           "load_average_before": load0, "load_average_after": os.getloadavg()[0]})
        log(f"wrote {a.out}")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
