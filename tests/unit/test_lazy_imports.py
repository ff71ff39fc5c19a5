"""A cold start imports the routes, not the service layer; a route's services load on first use.

``import app`` (what a Lambda cold start runs) must not reach ``chalicelib.services``, the
notifications, the payment adapters or the search analyser: the route modules name them with
``chalicelib.lazy.lazy`` (the figure is ``make bench``'s cold import row). A lazily named module
behaves as the module: reads, writes (a test's monkeypatch) and threads that race to it first.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path

from chalicelib.lazy import lazy

ROOT = Path(__file__).resolve().parents[2]
SERVICE_LAYER = ("chalicelib.services", "chalicelib.notify", "chalicelib.search", "chalicelib.feeds")
# what a cold start may reach below the routes: cursors, the audit vocabulary the admin
# route's schema lists, the key grammar they stand on
STORE_AT_IMPORT = {"chalicelib.store", "chalicelib.store.audit", "chalicelib.store.keys", "chalicelib.store.pagination",
                   "chalicelib.store.toolkit", "chalicelib.store.values"}


def loaded_by_import_app() -> set[str]:
    code = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    env = {"AWS_DEFAULT_REGION": "us-east-1", "MARKETPLACE_LOCAL": "1", "AWS_XRAY_SDK_ENABLED": "false",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_cold_start_does_not_import_the_service_layer():
    loaded = loaded_by_import_app()
    assert "chalicelib.api.catalog" in loaded  # the routes are registered
    assert sorted(m for m in loaded if m.startswith(SERVICE_LAYER)) == []
    assert sorted(m for m in loaded if m.startswith("chalicelib.store") and m not in STORE_AT_IMPORT) == []
    assert sorted(m for m in loaded if m.startswith("chalicelib.adapters.")) == ["chalicelib.adapters.aws"]
    assert "boto3" not in loaded  # clients are made on first use too


def write_module(tmp_path, monkeypatch, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_lazy_module_is_imported_on_first_read_only(tmp_path, monkeypatch):
    write_module(tmp_path, monkeypatch, "lazy_probe_a", "ANSWER = 42\n")
    module = lazy("lazy_probe_a")
    assert "lazy_probe_a" not in sys.modules
    assert module.ANSWER == 42
    assert sys.modules["lazy_probe_a"].ANSWER == 42


def test_writes_reach_the_module_so_patches_are_seen_by_every_caller(tmp_path, monkeypatch):
    write_module(tmp_path, monkeypatch, "lazy_probe_b", "def greet():\n    return 'hello'\n")
    module = lazy("lazy_probe_b")
    monkeypatch.setattr(module, "greet", lambda: "patched")
    assert sys.modules["lazy_probe_b"].greet() == "patched"
    monkeypatch.undo()
    assert sys.modules["lazy_probe_b"].greet() == "hello"


def test_threads_racing_to_a_slow_import_all_see_the_whole_module(tmp_path, monkeypatch):
    # the module takes 0.3 s to import and defines its attribute last: a thread that saw it half
    # initialised (importlib.util.LazyLoader on Python 3.11) would get an AttributeError
    write_module(tmp_path, monkeypatch, "lazy_probe_c", "import time\ntime.sleep(0.3)\nREADY = 'yes'\n")
    module = lazy("lazy_probe_c")
    start = threading.Barrier(8)
    seen: list[object] = []

    def read() -> None:
        start.wait()
        try:
            seen.append(module.READY)
        except AttributeError as exc:
            seen.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["yes"] * 8
