"""Parse and chunk a synthetic feed of N offers (default 1,000,000): the first stage of the
chunked import design in docs/feed-formats.md ("Feeds beyond one function run").

What it measures, locally, no AWS: generating the YML file (not timed), then one streaming pass
of ``chalicelib.feeds.read_feed`` that validates every offer, builds the product
(``domain/catalog.product_from_offer``) and writes it into gzip'd JSON-lines chunk files of
``--chunk`` products each — the files a Distributed Map would hand to its workers. Prints
offers/s, the chunk count and sizes, and peak memory (ru_maxrss).

    .venv/bin/python -m bench.feed_chunks --offers 1000000 --chunk 50000
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import tempfile
import time
from pathlib import Path


def write_feed(path: Path, offers: int) -> int:
    with path.open("wb") as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<yml_catalog date="2026-12-04 10:00"><shop><name>B</name>'
                  b'<currencies><currency id="RUR" rate="1"/></currencies><categories>')
        out.write(b"".join(f'<category id="{c}">Category {c}</category>'.encode() for c in range(1, 201)))
        out.write(b"</categories><offers>\n")
        block = []
        for i in range(offers):
            block.append(
                f'<offer id="o{i}" available="{"true" if i % 10 else "false"}"><name>Товар номер {i}</name>'
                f"<price>{100 + i % 9000}.{i % 100:02d}</price><currencyId>RUR</currencyId>"
                f"<categoryId>{1 + i % 200}</categoryId><vendor>Vendor {i % 500}</vendor>"
                f"<picture>https://img.example.com/{i}.jpg</picture><count>{i % 50}</count>"
                f"<description>Описание товара {i}: прочный, лёгкий, удобный.</description>"
                f'<param name="Цвет">цвет {i % 12}</param></offer>\n')
            if len(block) == 10_000:
                out.write("".join(block).encode())
                block = []
        out.write("".join(block).encode())
        out.write(b"</offers></shop></yml_catalog>\n")
    return path.stat().st_size


def parse_and_chunk(path: Path, out_dir: Path, chunk: int) -> dict[str, float]:
    from chalicelib.domain.catalog import product_from_offer
    from chalicelib.feeds import FeedOffer, RowError, read_feed

    started = time.perf_counter()
    offers = errors = 0
    files: list[Path] = []
    current = None
    in_chunk = 0
    with path.open("rb") as stream:
        for row in read_feed(stream, path.name, max_decompressed_bytes=4 << 30):
            if isinstance(row, RowError):
                errors += 1
                continue
            if not isinstance(row, FeedOffer):
                continue
            if current is None or in_chunk == chunk:
                if current is not None:
                    current.close()
                files.append(out_dir / f"chunk-{len(files):05d}.jsonl.gz")
                current = gzip.open(files[-1], "wt", encoding="utf-8", compresslevel=1)  # noqa: SIM115 - one per chunk
                in_chunk = 0
            product = product_from_offer("bench-seller", row, "fbench")
            current.write(json.dumps(product, ensure_ascii=False, separators=(",", ":")) + "\n")
            in_chunk += 1
            offers += 1
    if current is not None:
        current.close()
    seconds = time.perf_counter() - started
    sizes = [f.stat().st_size for f in files]
    return {"offers": offers, "errors": errors, "seconds": seconds, "offers_per_s": offers / seconds,
            "chunks": len(files), "chunk_mb": max(sizes) / 1e6, "chunks_mb": sum(sizes) / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "synthetic.yml"
        size = write_feed(feed, args.offers)
        chunks = Path(tmp) / "chunks"
        chunks.mkdir()
        result = parse_and_chunk(feed, chunks, args.chunk)
    print(json.dumps({"feed_mb": round(size / 1e6, 1), **{k: round(v, 2) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
