"""``python -m bench`` (``make bench``): the numbers that keep the app fast, small and honest.

1. Cold import time of ``app`` (what a Lambda cold start pays before the first request) as a
   ratio to ``import boto3``, each measured in fresh interpreters in the same run, several
   repeats, median: the ratio is comparable across machines, the seconds are not. Then the
   first request of a cold process (import + the first ``GET /products``, against moto) as a
   ratio to the same for a minimal Chalice app (``bench/first_request.py``).
2. The size of the Lambda package ``make package`` builds (built in the run), and what each
   dependency weighs in it.
3. Every ``bench/*_bench.py`` module's ``main()``, in name order, each in a fresh interpreter
   (one bench's leftover threads and memory would skew the next): each prints its own detail
   and returns its headline rows ``(metric, value, compared with)``.

At the end every row goes into ONE table, printed and written to ``BENCHMARKS.md`` (with the
machine and the date it was measured on). ``BENCH_ONLY=http,commerce`` runs some modules only.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "build" / "package" / "deployment.zip"
REPORT = ROOT / "BENCHMARKS.md"
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
    """Built in this run (a package left from before a requirements change would mislead)."""
    subprocess.run(["make", "package"], cwd=ROOT, check=True)
    return PACKAGE.stat().st_size


def bench_modules() -> list[str]:
    only = {x.strip() for x in os.environ.get("BENCH_ONLY", "").split(",") if x.strip()}
    names = sorted(p.stem for p in (ROOT / "bench").glob("*_bench.py"))
    return [f"bench.{n}" for n in names if not only or n.removesuffix("_bench") in only]


Row = tuple[str, str, str, str]  # area, metric, value, compared with


def table(rows: list[Row]) -> str:
    head = ("area", "metric", "value", "compared with")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.replace("|", "/").ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    return "\n".join([line, rule, *body])


def _previous_rows(keep_areas_except: set[str]) -> list[Row]:
    """Rows of the last full report for the areas this (partial) run did not measure."""
    if not REPORT.exists():
        return []
    rows: list[Row] = []
    for line in REPORT.read_text(encoding="utf-8").splitlines()[4:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and not set(cells[0]) <= {"-"} and cells[0] != "area" and cells[0] not in keep_areas_except:
            rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def write_report(rows: list[Row], failed: list[str], seconds: float) -> None:
    only = os.environ.get("BENCH_ONLY")
    note = ""
    if only:
        measured = {r[0] for r in rows}
        rows = sorted([*_previous_rows(measured), *rows], key=lambda r: r[0])
        note = (f" Partial run: only {', '.join(sorted(measured))} re-measured at "
                f"{time.strftime('%H:%M UTC', time.gmtime())}; the other rows are from the previous run.")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    text = [
        "# Benchmarks",
        "",
        f"Written by `make bench` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine}; "
        f"the run took {seconds / 60:.1f} min). Absolute times are of this machine and of the local emulator "
        "(moto: ~5 ms per DynamoDB call, one process); the ratios are the comparable figures. "
        "Each module's detail is in its own output (`python -m bench.<name>_bench`)." + note,
        "",
        table(rows),
        "",
    ]
    if failed:
        text += [f"**Failed this run:** {', '.join(failed)} (see the console output).", ""]
    REPORT.write_text("\n".join(text), encoding="utf-8")


# The sizes the issues ask for: 100k-offer feeds (the catalog part takes ~15 min here, moto
# writing ~600 offers/s) and a 100k-product search catalog; set BENCH_CATALOG_OFFERS=10000 for a
# quick run.
DEFAULT_SIZES = {"BENCH_CATALOG_OFFERS": "100000", "SEARCH_BENCH_LARGE": "100000"}


_ROWS = "bench rows: "


def run_isolated(name: str) -> list[list[str]]:
    """``name``'s ``main()`` in a fresh interpreter, its output passed through: one bench's
    leftovers (an in-process moto's workflow threads, imported modules, memory) must not slow
    the next one's client or server; its rows come back on one marked line."""
    code = (f"import json, sys; import {name} as m; rows = m.main() or []; "
            f"print({_ROWS!r} + json.dumps([[str(c) for c in r] for r in rows]), flush=True)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rows: list[list[str]] | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_ROWS):
            rows = json.loads(line[len(_ROWS):])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or rows is None:
        raise RuntimeError(f"{name} exited with {proc.returncode}")
    return rows


def main() -> int:
    for key, value in DEFAULT_SIZES.items():
        os.environ.setdefault(key, value)
    started = time.monotonic()
    rows: list[Row] = []
    only = os.environ.get("BENCH_ONLY")
    if not only:
        ratio = import_ratio()
        print(f"cold import: app {ratio['app_s'] * 1000:.0f} ms, boto3 {ratio['boto3_s'] * 1000:.0f} ms, "
              f"ratio {ratio['ratio']:.2f} (median of {REPEATS} fresh interpreters)", flush=True)
        rows.append(("lambda", "cold import of app", f"{ratio['app_s'] * 1000:.0f} ms",
                     f"x{ratio['ratio']:.2f} of import boto3 ({ratio['boto3_s'] * 1000:.0f} ms); goal <= 1.5"))
        from bench.first_request import describe, first_request

        first = first_request()
        print(describe(first), flush=True)
        print(f"ratios: cold import x{ratio['ratio']:.2f} of import boto3 (goal <= 1.5); first request of a cold "
              f"process x{first['ratio']:.2f} of a minimal Chalice app (what being cold adds: "
              f"x{first['cold_ratio']:.2f})", flush=True)
        rows.append(("lambda", "cold process: import + first GET /products", f"{first['app_total_s'] * 1000:.0f} ms",
                     f"x{first['ratio']:.2f} of a minimal Chalice app ({first['minimal_total_s'] * 1000:.0f} ms)"))
        rows.append(("lambda", "what being cold adds (import + first - warm request)",
                     f"{first['app_cold_s'] * 1000:.0f} ms",
                     f"x{first['cold_ratio']:.2f} of a minimal Chalice app ({first['minimal_cold_s'] * 1000:.0f} ms)"))
        size = package_size()
        print(f"lambda package: {size / 1e6:.1f} MB ({PACKAGE.relative_to(ROOT)})", flush=True)
        rows.append(("lambda", "deployment package (zip)", f"{size / 1e6:.1f} MB",
                     "goal <= 6 MB; Lambda limit 50 MB zipped"))
        from infra.slim import report

        print(report(PACKAGE), flush=True)  # what each dependency weighs in it
    failed = []
    for name in bench_modules():
        print(f"--- {name}", flush=True)
        area = name.removeprefix("bench.").removesuffix("_bench")
        try:
            result = run_isolated(name)
        except Exception as exc:  # noqa: BLE001 - report every benchmark, then fail
            failed.append(name)
            print(f"{name} failed: {exc!r}", flush=True)
            rows.append((area, "(failed)", repr(exc)[:80], ""))
            continue
        rows += [(area, *map(str, r)) for r in result or []]
    report = table(rows)
    print("\n" + report, flush=True)
    write_report(rows, failed, time.monotonic() - started)
    print(f"\nwritten to {REPORT.relative_to(ROOT)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
