"""Drop from the Lambda zip what the functions never load, and say what is left.

``chalice package`` vendors every requirement with its whole distribution. Removed:

- what the Lambda Python runtime already provides: ``aws-xray-sdk`` depends on botocore, so
  chalice vendors botocore (~16 MB) and its dependencies; the runtime ships boto3 with a
  matching botocore, and a vendored one would shadow it (mismatching the runtime's boto3) and
  slow every cold start;
- packaging metadata and tooling files: ``*.dist-info`` (nothing reads it at run time:
  pydantic only looks for plugins in it, and the functions use none), ``__pycache__`` and
  ``*.pyc`` (byte code for another interpreter is ignored anyway), type stubs (``*.pyi``,
  ``*-stubs``);
- the API documentation UIs the docs page does not serve: ``openapi_ui_bundles`` also ships
  ReDoc and RapiDoc; only the files of ``chalicelib.api.openapi.ASSETS`` are kept (its Python
  modules stay: the package imports all three).

``python -m infra.slim build/package/deployment.zip`` rewrites the zip and prints its size
and what each top-level package weighs in it (zipped), largest first.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

# top-level names the Lambda Python runtime provides (boto3 and its dependency tree)
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
_DIST = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-[0-9][^/]*\.(dist-info|egg-info|data)$")
# the Swagger UI files the docs page serves (chalicelib/api/openapi.py, ASSETS)
DOCS_UI_KEEP = ("openapi_ui_bundles/swagger_ui/vendor/swagger-ui-bundle.js",
                "openapi_ui_bundles/swagger_ui/vendor/swagger-ui.css")


def provided_by_runtime(path: str) -> bool:
    top = path.split("/", 1)[0]
    name = top[:-3] if top.endswith(".py") else top
    dist = _DIST.match(top)
    if dist:
        name = dist.group("name").lower().replace("python_dateutil", "dateutil")
    return name in RUNTIME_PROVIDED


def never_loaded(path: str) -> bool:
    """Metadata, byte code, stubs and documentation UIs nobody serves (module docstring)."""
    parts = path.split("/")
    if _DIST.match(parts[0]) or parts[0].endswith("-stubs") or "__pycache__" in parts:
        return True
    if path.endswith((".pyc", ".pyi")):
        return True
    return parts[0] == "openapi_ui_bundles" and not path.endswith((".py", "/")) and path not in DOCS_UI_KEEP


def weights(path: Path) -> Counter[str]:
    """Zipped bytes per top-level package (a module file counts as its own name)."""
    out: Counter[str] = Counter()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            top = info.filename.split("/", 1)[0]
            out[top.removesuffix(".py")] += info.compress_size
    return out


def slim(path: Path) -> tuple[int, int]:
    """Rewrite the zip without what is never loaded; returns (bytes before, after)."""
    before = path.stat().st_size
    tmp = path.with_suffix(".slim.zip")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            if not provided_by_runtime(info.filename) and not never_loaded(info.filename):
                dst.writestr(info, src.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, path)
    return before, path.stat().st_size


def report(path: Path) -> str:
    lines = [f"{name:<28} {size / 1e6:6.2f} MB" for name, size in weights(path).most_common() if size >= 5_000]
    small = sum(size for size in weights(path).values() if size < 5_000)
    return "\n".join([*lines, f"{'(the rest)':<28} {small / 1e6:6.2f} MB"])


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    for name in args:
        before, after = slim(Path(name))
        print(f"{name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB (runtime-provided packages, metadata, "
              "byte code, stubs and unused UI files removed); zipped weight per package:")
        print(report(Path(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
