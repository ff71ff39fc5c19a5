"""The local stack: moto server + resources + patches + poller + Chalice's dev server, in one process.

Start order matters: the environment (fake credentials, ``TZ=UTC``, X-Ray off) before anything
imports boto3 clients; the in-process patches before the first request; moto's in-process mock
and the moto server before the resources; ``MOTO_PORT`` and the Step Functions switch before any
execution starts; the app's environment before the app is imported. ``stop()`` undoes it in
reverse.

Two doors to the same AWS: moto keeps its backends (tables, buckets, executions ...) in this
process's memory, and both doors reach them. The moto server (``moto_url``) serves whoever is
outside: browsers and ``curl`` on presigned S3 URLs, the tests' and scripts' boto3 clients, the
poller. The app itself — API handlers, workflow steps, the functions the poller and timers
invoke — calls AWS through moto's in-process mock (``mock_aws``): the same botocore request,
answered without an HTTP round trip, a new connection and a server thread per call (about a
third of the CPU per call). Only S3 stays on the server (``AWS_ENDPOINT_URL_S3``): the URLs
the app presigns must name an address a browser can reach.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("marketplace.local")

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
    "MARKETPLACE_LOCAL": "1",
    "TZ": "UTC",
}


def chalice_config() -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))


def stage_defaults(stage: str = "local") -> dict[str, str]:
    """The ``local`` stage's settings from ``infra/resources.py`` (timeouts a human can click
    through); whatever the caller's environment sets wins."""
    from infra import resources as res

    return {**res.COMMON_SETTINGS, **res.STAGE_SETTINGS[stage]}


def configure_logging() -> None:
    """Everything on the console as one JSON object per line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("marketplace").setLevel(logging.INFO)
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8000
    moto_port: int = 0
    region: str = "us-east-1"
    prefix: str = "mp"
    state_file: Path | None = None
    poll_wait_seconds: int = 1
    import_retry_seconds: int = 1
    import_workers: int = 2  # import messages delivered at once (a big feed's chunks: in parallel)
    reconcile_interval_seconds: float = 5
    fetch_feeds_interval_seconds: float = 10


@dataclass
class LocalStack:
    options: Options
    env: dict[str, str] = field(default_factory=dict)
    moto_url: str = ""
    url: str = ""
    _moto: Any = None
    _mock: Any = None
    _server: Any = None
    _server_thread: threading.Thread | None = None
    _poller: Any = None
    _timers: list[Any] = field(default_factory=list)

    def start(self) -> LocalStack:
        opts = self.options
        started = time.perf_counter()
        for k, v in {**BASE_ENV, "AWS_DEFAULT_REGION": opts.region, "AWS_REGION": opts.region}.items():
            os.environ[k] = v
        if hasattr(time, "tzset"):
            time.tzset()
        for k, v in stage_defaults().items():
            os.environ.setdefault(k, v)
        os.environ.pop("AWS_ENDPOINT_URL", None)  # set below, once moto answers

        from local import bootstrap, patches

        patches.apply_in_process()

        from moto import mock_aws
        from moto.server import ThreadedMotoServer

        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start(reset=False)

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=opts.moto_port, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        os.environ["MOTO_PORT"] = str(port)
        patches.enable_stepfunctions_execution(self.moto_url)

        env = bootstrap.create_local_stack(self.moto_url, opts.region, opts.prefix)
        env["JWKS_URL"] = f"{self.moto_url}/{env['USER_POOL_ID']}/.well-known/jwks.json"
        env["AWS_ENDPOINT_URL"] = self.moto_url
        env["MOTO_PORT"] = str(port)
        env["AWS_REGION"] = opts.region
        self.url = f"http://{opts.host}:{opts.port}"
        env.setdefault("PUBLIC_BASE_URL", os.environ.get("PUBLIC_BASE_URL", self.url))
        # the app's own calls: in-process, but S3's (presigned URLs) through the server
        os.environ.update({k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"},
                          AWS_ENDPOINT_URL_S3=self.moto_url)
        self.env = {
            **env,
            **{k: os.environ[k] for k in stage_defaults() if k in os.environ},
        }

        from local.poller import ImportPoller, ScheduleTimer

        self._poller = ImportPoller(
            env["IMPORT_QUEUE_URL"],
            env["IMPORT_FUNCTION_NAME"],
            endpoint=self.moto_url,
            region=opts.region,
            wait_seconds=opts.poll_wait_seconds,
            retry_delay=opts.import_retry_seconds,
            workers=opts.import_workers,
        ).start()
        self._timers = [ScheduleTimer(env["RECONCILE_FUNCTION_NAME"], opts.reconcile_interval_seconds,
                                      endpoint=self.moto_url, region=opts.region).start(),
                        ScheduleTimer(env["FETCH_FEEDS_FUNCTION_NAME"], opts.fetch_feeds_interval_seconds,
                                      endpoint=self.moto_url, region=opts.region).start()]
        self._start_api()
        self._write_state()
        log.info(
            "local stack ready",
            extra={"fields": {"url": self.url, "moto_url": self.moto_url,
                              "seconds": round(time.perf_counter() - started, 2)}},
        )
        return self

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

        from app import app

        class QuietHandler(ChaliceRequestHandler):
            # the handler writes the headers and the body in two sends: with Nagle's algorithm on,
            # the body waited for the client's delayed ACK (~40 ms on every keep-alive request)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
                pass  # the app logs one JSON line per request (chalicelib/api/http.py)

        # what chalice.local.create_local_server does, with a handler that logs no plain text
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
        config = Config(chalice_stage="local", config_from_disk=chalice_config())
        self._server = LocalDevServer(app, config, self.options.host, self.options.port, handler_cls=QuietHandler)
        self._server.server.daemon_threads = True
        self._server_thread = threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)
        self._server_thread.start()

    def _write_state(self) -> None:
        path = self.options.state_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2))
        tmp.replace(path)

    def add_to_group(self, email: str, group: str) -> None:
        """What an operator does to make an admin (registration never does): Cognito's
        AdminAddUserToGroup on the local user pool."""
        import boto3

        cognito = boto3.client("cognito-idp", endpoint_url=self.moto_url, region_name=self.options.region)
        cognito.admin_add_user_to_group(UserPoolId=self.env["USER_POOL_ID"], Username=email, GroupName=group)

    def state(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "url": self.url, "moto_url": self.moto_url, "env": self.env}

    def stop(self) -> None:
        if self._poller:
            self._poller.stop()
        for timer in self._timers:
            timer.stop()
        if self._server:
            self._server.server.shutdown()
            self._server.server.server_close()
        if self._moto:
            self._moto.stop()
        if self._mock:
            self._mock.stop(remove_data=False)
        if self.options.state_file and self.options.state_file.exists():
            self.options.state_file.unlink()
