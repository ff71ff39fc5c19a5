"""``python -m bench`` (``make bench``): the numbers that keep the app fast to start and small.

1. Cold import time of ``app`` (what a Lambda cold start pays before the first request) as a
   ratio to ``import boto3``, each measured in fresh interpreters in the same run, several
   repeats, median: the ratio is comparable across machines, the seconds are not.
2. The size of the Lambda package ``make package`` builds (built first when missing).
3. Every ``bench/*_bench.py`` module's ``main()``, in name order.
"""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "build" / "package" / "deployment.zip"
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))

_TIMER = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_XRAY_SDK_ENABLED": "false", "MARKETPLACE_LOCAL": "1",
                "PYTHONDONTWRITEBYTECODE": "0"})
    return env


def cold_import_seconds(module: str, repeats: int = REPEATS) -> list[float]:
    """Import time of ``module`` in ``repeats`` fresh interpreters."""
    code = _TIMER.format(module=module)
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), check=True,
                             capture_output=True, text=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return times


def import_ratio() -> dict[str, float]:
    for module in ("boto3", "app"):  # byte code compiled once, as in a deployed package
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=_env(), check=True)
    # interleave so both see the same machine load
    app, boto3 = [], []
    for _ in range(REPEATS):
        boto3 += cold_import_seconds("boto3", 1)
        app += cold_import_seconds("app", 1)
    result = {"app_s": statistics.median(app), "boto3_s": statistics.median(boto3)}
    result["ratio"] = result["app_s"] / result["boto3_s"]
    return result


def package_size() -> int:
    if not PACKAGE.exists():
        subprocess.run(["make", "package"], cwd=ROOT, check=True)
    return PACKAGE.stat().st_size


def bench_modules() -> list[str]:
    return sorted(f"bench.{p.stem}" for p in (ROOT / "bench").glob("*_bench.py"))


def main() -> int:
    ratio = import_ratio()
    print(f"cold import: app {ratio['app_s'] * 1000:.0f} ms, boto3 {ratio['boto3_s'] * 1000:.0f} ms, "
          f"ratio {ratio['ratio']:.2f} (median of {REPEATS} fresh interpreters)", flush=True)
    size = package_size()
    print(f"lambda package: {size / 1e6:.1f} MB ({PACKAGE.relative_to(ROOT)})", flush=True)
    failed = []
    for name in bench_modules():
        print(f"--- {name}", flush=True)
        try:
            importlib.import_module(name).main()
        except Exception as exc:  # noqa: BLE001 - report every benchmark, then fail
            failed.append(name)
            print(f"{name} failed: {exc!r}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
