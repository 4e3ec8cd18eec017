"""Servers for the end-to-end tests, one process each, shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import (
    GEVENT_WEBSOCKET_WORKER,
    OUR_WORKER,
    free_port,
    gunicorn,
    running,
    wsbackend_serve,
)

E2E_SITE = "e2e_site:application"


def _serve(argv_for_port, tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / f"{name}.log"
    with running(argv_for_port(port), port, log):
        yield port


@pytest.fixture(scope="session")
def our_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """gunicorn -k wsbackend.worker.WebSocketWorker serving the e2e site."""
    yield from _serve(lambda port: gunicorn(OUR_WORKER, E2E_SITE, port), tmp_path_factory, "ours")


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """wsbackend serve, one process, the e2e site."""
    yield from _serve(lambda port: wsbackend_serve(port, E2E_SITE), tmp_path_factory, "serve")


@pytest.fixture(scope="session", params=["gunicorn-worker", "wsbackend-serve"])
def server(request: pytest.FixtureRequest) -> int:
    """Each way we run our own handler: the gunicorn worker and the standalone server."""
    return int(
        request.getfixturevalue(
            "our_worker" if request.param == "gunicorn-worker" else "standalone"
        )
    )


@pytest.fixture(scope="session")
def plain_gevent_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """gunicorn -k gevent, gunicorn's own HTTP parser."""
    yield from _serve(lambda port: gunicorn("gevent", E2E_SITE, port), tmp_path_factory, "gevent")


@pytest.fixture(scope="session")
def gws_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """gevent-websocket's gunicorn worker serving our middleware."""
    yield from _serve(
        lambda port: gunicorn(GEVENT_WEBSOCKET_WORKER, E2E_SITE, port), tmp_path_factory, "gws"
    )
