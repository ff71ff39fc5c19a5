"""``python -m local``: the whole system on this machine, one process, no Docker.

Starts moto, creates the resources, serves the API at http://127.0.0.1:8000 and (unless
``--no-demo``) creates the demo data. Ctrl-C stops everything. See ``local/stack.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import requests

from local.stack import LocalStack, Options, configure_logging

log = logging.getLogger("marketplace.local")
READY_PREFIX = "LOCAL_STACK_READY "


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="API host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    p.add_argument("--moto-port", type=int, default=0, help="moto server port (default: a free one)")
    p.add_argument("--prefix", default="mp", help="resource name prefix")
    p.add_argument("--state-file", type=Path, default=Path("local/.state/stack.json"),
                   help="where to write the stack's URLs and environment as JSON")
    p.add_argument("--no-demo", action="store_true", help="skip the demo seller, customer and catalog")
    return p.parse_args(argv)


def _wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/health did not answer in {timeout:.0f} s")
        time.sleep(0.1)


def banner(stack: LocalStack, demo: bool) -> str:
    from local.demo import LOGINS

    lines = [
        "",
        "  Marketplace is running locally (moto, no Docker)",
        f"  API      {stack.url}",
        f"  Docs     {stack.url}/docs",
        f"  Mailbox  {stack.url}/local/mailbox",
        f"  moto     {stack.moto_url}",
    ]
    if demo:
        lines.append("  Demo logins:")
        lines += [f"    {who.label:<9}{who.email}  /  {who.password}" for who in LOGINS]
    lines += ["  Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is fine
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if port_taken(args.host, args.port):
        print(f"{args.host}:{args.port} is already in use (another `make run`?). Stop it, or pick another "
              f"port: make run RUN_ARGS='--port {args.port + 1}'", file=sys.stderr)
        return 2
    configure_logging()
    stack = LocalStack(Options(host=args.host, port=args.port, moto_port=args.moto_port, prefix=args.prefix,
                               state_file=args.state_file))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stack.start()
        _wait_healthy(stack.url)
        # one machine-readable line for scripts (in ONE write: other threads log to the same
        # stream; the e2e tests read --state-file instead), then the human banner
        sys.stdout.write(f"{READY_PREFIX}{json.dumps(stack.state())}\n")
        sys.stdout.flush()
        print(banner(stack, not args.no_demo), flush=True)
        if not args.no_demo:
            from local import demo

            if not demo.run(stack.url, promote=stack.add_to_group):
                log.error("some demo steps failed; see the lines above")
        stop.wait()
    finally:
        log.info("stopping the local stack")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
