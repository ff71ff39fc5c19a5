"""A big feed imported in chunks by 2 workers against the single-function import of the same feed.

Run: ``.venv/bin/python -m bench.chunked_import_bench`` (``BENCH_CHUNKED_OFFERS=100000`` for the
100k feed; the default is ``min(BENCH_CATALOG_OFFERS, 20000)`` so that ``make bench`` stays
near ten minutes on a shared 2-core machine; the size used is printed).

Set-up: one moto server in a child process (DynamoDB calls serialized, as on the local stack),
the tables, bucket, import queue and the bucket's notification from ``local/bootstrap.py``.
The imports run in **worker processes**, each the import Lambda's SQS handler in a loop — what
the event-source mapping does with one function instance per message:

- *single*: one worker, ``IMPORT_CHUNK_OFFERS=0`` (today's path: one run reads the file twice
  and writes every product);
- *chunked*: two workers, ``IMPORT_CHUNK_OFFERS`` = a tenth of the feed: whichever receives the
  S3 notification splits the file, then both take the chunk messages; the last chunk commits.

Processes and not threads: a Lambda instance is a process, and threads in one interpreter
would share its GIL, so "2 workers" would measure one. The clock runs from the PutObject to
the final import record, the same for both; both write the same products over an empty seller
(the same feed, two sellers), the search index off in both (``bench/search_bench.py`` measures
it). The AWS side is one moto process for both runs: the ratio says whether splitting, chunk
files and the job's bookkeeping cost less than two writers gain, on a backend that is itself
one Python process — on AWS each worker gets its own DynamoDB capacity (docs/feed-formats.md
has the arithmetic). So the bench also prints the share of each run's wall time the moto
process was on a CPU: near 100 % it is the bound, and no number of workers can go faster.
Peak memory: ru_maxrss of each worker process (moto's data is elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.support import use_emulator_env

use_emulator_env(in_process=False)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
WORKERS = 2


def offers() -> int:
    explicit = os.environ.get("BENCH_CHUNKED_OFFERS")
    if explicit:
        return int(explicit)
    return min(int(os.environ.get("BENCH_CATALOG_OFFERS", "20000")), 20000)


def start_moto() -> tuple[subprocess.Popen, str]:
    from bench.catalog_bench import start_moto as start

    return start(serialized=True)


# --- a worker process: the import Lambda's SQS handler in a loop ---------------------------------


def worker(stop_file: str) -> None:
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib.services import feed_import

    feed_import._index = lambda changes: None  # the search index is measured elsewhere
    sqs = boto3.client("sqs", region_name=REGION)
    queue = os.environ["IMPORT_QUEUE_URL"]
    handled = 0
    with Client(app) as client:
        while not os.path.exists(stop_file):
            msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=1).get("Messages", [])
            for m in msgs:
                event = client.events.generate_sqs_event(message_bodies=[m["Body"]], queue_name="imports")
                try:
                    client.lambda_.invoke("import_feed", event)
                except Exception as exc:  # noqa: BLE001 - as the mapping: the message comes back
                    print(f"worker: message failed: {exc!r}", file=sys.stderr, flush=True)
                    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"],
                                                  VisibilityTimeout=0)
                    continue
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
                handled += 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"peak_rss_mb": usage.ru_maxrss / 1024, "messages": handled,
                      "cpu_s": usage.ru_utime + usage.ru_stime}), flush=True)


# --- the parent: one timed import with N workers -------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_import(env: dict[str, str], path: Path, seller: str, workers: int, chunk_offers: int,
                 tmp: Path, moto_pid: int) -> dict[str, float]:
    import boto3

    from chalicelib.services import feed_import
    from chalicelib.store import imports

    stop = tmp / f"stop-{seller}"
    child_env = {**os.environ, **env, "IMPORT_CHUNK_OFFERS": str(chunk_offers), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "bench.chunked_import_bench", "--worker", str(stop)],
                              cwd=ROOT, env=child_env, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    try:
        time.sleep(3)  # the workers import the app and start polling before the clock starts
        s3 = boto3.client("s3", region_name=REGION)
        key = f"feeds/{seller}/{path.name}"
        started, moto_cpu = time.perf_counter(), cpu_seconds(moto_pid)
        s3.upload_file(str(path), env["FEEDS_BUCKET"], key)
        record = None
        while record is None or record.status in (imports.QUEUED, imports.PROCESSING):
            time.sleep(0.2)
            head = feed_import._head(env["FEEDS_BUCKET"], key)
            record = imports.get(feed_import._derived_id(head)) if head else None
        seconds = time.perf_counter() - started
        moto_busy = (cpu_seconds(moto_pid) - moto_cpu) / seconds
    finally:
        stop.touch()
        outputs = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
    assert record.status == "succeeded" and record.counts and record.counts.created == record.counts.rows, record
    return {"seconds": seconds, "offers": record.counts.created,
            "peak_rss_mb": max(o["peak_rss_mb"] for o in outputs),
            "workers_busy": sum(o["cpu_s"] for o in outputs) / seconds,  # (includes their start-up)
            "chunks": int(record.item.get("chunks") or 0), "moto_busy": moto_busy}


def main() -> list[tuple[str, str, str]]:
    from bench.catalog_bench import write_yml

    n = offers()
    chunk = max(n // 10, 1)
    print(f"chunked import bench: {n} offers (BENCH_CHUNKED_OFFERS, else min(BENCH_CATALOG_OFFERS, 20000)), "
          f"chunks of {chunk}, {WORKERS} worker processes against 1, moto server in a child process", flush=True)
    proc, url = start_moto()
    try:
        from bench.catalog_bench import configure
        from chalicelib.store import accounts

        env = configure(url)  # the tables, bucket, queue and notification; the search index off
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            path = tmp / f"bench-{n}.yml"
            write_yml(path, n)
            results = {}
            for label, workers, chunk_offers in (("single", 1, 0), ("chunked", WORKERS, chunk)):
                seller = f"bench-{label}"
                accounts.put_shop(seller, {"seller_id": seller, "name": seller, "delivery_methods": []})
                results[label] = timed_import(env, path, seller, workers, chunk_offers, tmp, proc.pid)
                r = results[label]
                chunks = f" ({r['chunks']:.0f} chunks)" if r["chunks"] else ""
                print(f"  {label:7}: {r['seconds']:7.1f} s = {r['offers'] / r['seconds']:6.0f} offers/s{chunks}"
                      f" | peak ru_maxrss of a worker {r['peak_rss_mb']:.0f} MB | on a CPU: moto "
                      f"{r['moto_busy']:.0%}, the workers {r['workers_busy']:.0%} of the time (of {os.cpu_count()} "
                      "CPUs shared with the rest of the machine)", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    single, chunked = results["single"], results["chunked"]
    ratio = single["seconds"] / chunked["seconds"]
    memory = chunked["peak_rss_mb"] / single["peak_rss_mb"]
    print(f"  throughput ratio chunked/single {ratio:.2f} (goal >= 1.0); peak memory of a chunked worker "
          f"{chunked['peak_rss_mb']:.0f} MB vs the single run's {single['peak_rss_mb']:.0f} MB (x{memory:.2f})",
          flush=True)
    return [
        (f"chunked import, yml {n} offers, {WORKERS} worker processes",
         f"{chunked['offers'] / chunked['seconds']:.0f} offers/s",
         f"x{ratio:.2f} of the single-function import ({single['offers'] / single['seconds']:.0f} offers/s); "
         f"goal >= 1.0; moto busy {single['moto_busy']:.0%} → {chunked['moto_busy']:.0%}"),
        (f"chunked import peak memory, yml {n} offers", f"{chunked['peak_rss_mb']:.0f} MB per worker",
         f"x{memory:.2f} of the single-function import ({single['peak_rss_mb']:.0f} MB)"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", metavar="STOP_FILE")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
    else:
        main()
