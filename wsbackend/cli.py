"""``wsbackend serve [options] [APP]``, built from :data:`wsbackend.config.OPTIONS`.

Every flag has a ``WSBACKEND_*`` environment variable; a flag wins over its variable. A value
that cannot work (a bad port, a missing file, an application that does not import, an address
in use) is reported in one line, with exit status 2, before anything listens.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from . import __version__
from .config import OPTIONS, Config, ConfigError, install

__all__ = ["DEFAULT_APPLICATION", "main"]

DEFAULT_APPLICATION = "wsbackend_apps.site:application"
"""The sample site: its pages, and the echo and other sample apps by subprotocol."""

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """Reports a usage error in one line rather than the usage text and the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"wsbackend: error: {message}\n")


def _flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wsbackend",
        description="A WebSocket backend on gevent for sites behind Apache or nginx.",
    )
    parser.add_argument("--version", action="version", version=f"wsbackend {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a WSGI application with WebSockets",
        description="Serve a WSGI application and its WebSockets. Every option can also be set "
        "by the environment variable WSBACKEND_<OPTION> (e.g. WSBACKEND_PING_INTERVAL=30); "
        "the flag wins.",
    )
    serve.add_argument(
        "application",
        nargs="?",
        default=DEFAULT_APPLICATION,
        metavar="APP",
        help=f"module:name of the WSGI application (default: the sample site, "
        f"{DEFAULT_APPLICATION})",
    )
    for option in OPTIONS:
        default = option.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        serve.add_argument(
            option.flag,
            *option.aliases,
            dest=option.field,
            type=_flag_type(option.parse),
            metavar=option.metavar,
            default=argparse.SUPPRESS,
            help=f"{option.help} (default: {option.unset if shown in (None, '') else shown})",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = Config.build(vars(args), Config.from_environ())
        config.check()
    except ConfigError as exc:
        return _usage_error(str(exc))
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    install(config)
    if config.workers == 1:
        from gevent import monkey

        monkey.patch_all()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from .server import serve

    try:
        serve(args.application, config)
    except ConfigError as exc:
        return _usage_error(str(exc))
    return 0


def _usage_error(message: str) -> int:
    print(f"wsbackend: error: {message}", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
