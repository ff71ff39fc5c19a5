"""Drop from the Lambda zip what the Lambda Python runtime already provides.

``aws-xray-sdk`` depends on botocore, so ``chalice package`` vendors botocore (~16 MB) and its
dependencies. The runtime ships boto3 with a matching botocore; a vendored botocore would
shadow it (mismatching the runtime's boto3) and slow every cold start. Removing them keeps
the package to what ``requirements.txt`` means: the app's own runtime dependencies.

``python -m infra.slim build/package/deployment.zip``
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path

# top-level names the Lambda Python runtime provides (boto3 and its dependency tree)
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_DIST = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-[0-9][^/]*\.(dist-info|egg-info|data)$")


def provided_by_runtime(path: str) -> bool:
    top = path.split("/", 1)[0]
    name = top[:-3] if top.endswith(".py") else top
    dist = _DIST.match(top)
    if dist:
        name = dist.group("name").lower().replace("python_dateutil", "dateutil")
    return name in RUNTIME_PROVIDED


def slim(path: Path) -> tuple[int, int]:
    """Rewrite the zip without runtime-provided packages; returns (bytes before, after)."""
    before = path.stat().st_size
    tmp = path.with_suffix(".slim.zip")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not provided_by_runtime(info.filename):
                dst.writestr(info, src.read(info))
    os.replace(tmp, path)
    return before, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    for name in args:
        before, after = slim(Path(name))
        print(f"{name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB (runtime-provided packages removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
