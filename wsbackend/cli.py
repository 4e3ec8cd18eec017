"""``wsbackend serve [--bind HOST:PORT] [--workers N] [--certfile F --keyfile F] [APP]``."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence

from .flashpolicy import POLICY_ENV
from .hubs import REDIS_URL_ENV
from .proxies import TRUSTED_PROXIES_ENV
from .server import ServerOptions

__all__ = ["DEFAULT_APPLICATION", "main"]

DEFAULT_APPLICATION = "apps.site:application"
"""The sample site: its pages, and the echo and other sample apps by subprotocol."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsbackend", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a WSGI application with WebSockets")
    serve.add_argument(
        "application",
        nargs="?",
        default=DEFAULT_APPLICATION,
        metavar="APP",
        help=f"module:name of the WSGI application (default: {DEFAULT_APPLICATION})",
    )
    serve.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT (default: %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument("--certfile", help="TLS certificate (PEM) for wss://")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument(
        "--flash-policy",
        metavar="FILE",
        help="answer Flash <policy-file-request/> with this policy file (off by default)",
    )
    serve.add_argument(
        "--trusted-proxies",
        metavar="ADDRS",
        help="comma-separated proxy addresses or networks whose X-Forwarded-* headers are "
        "believed (default: 127.0.0.1,::1)",
    )
    serve.add_argument(
        "--redis",
        metavar="URL",
        help="share broadcast, groups and presence between workers and hosts through this Redis "
        f"(redis://host:port/db; default: ${REDIS_URL_ENV}, else per worker)",
    )
    serve.add_argument("--log-level", default="info", help="debug, info, warning (default: info)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        print("wsbackend: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    if args.trusted_proxies:
        os.environ[TRUSTED_PROXIES_ENV] = args.trusted_proxies
    if args.redis:
        if importlib.util.find_spec("redis") is None:
            print(
                "wsbackend: --redis needs the redis package: pip install 'wsbackend[redis]'",
                file=sys.stderr,
            )
            return 2
        os.environ[REDIS_URL_ENV] = args.redis
    if args.flash_policy:
        os.environ[POLICY_ENV] = os.path.abspath(args.flash_policy)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    if args.workers <= 1:
        from gevent import monkey

        monkey.patch_all()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from .server import serve

    serve(
        ServerOptions(
            application=args.application,
            bind=args.bind,
            workers=args.workers,
            certfile=args.certfile,
            keyfile=args.keyfile,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
