"""Client ids (wsbackend/application/client.py): unique across the processes of a server."""

from __future__ import annotations

import os
from types import SimpleNamespace

from wsbackend.application import Client


def new_id() -> str:
    """The id of a new client; the id does not depend on its connection, a stand-in here."""
    return Client(SimpleNamespace(wire_format=None), {}, "127.0.0.1").id  # type: ignore[arg-type]


def test_a_forked_worker_names_its_clients_with_its_own_pid_and_random_part() -> None:
    """The prefix is made once per process; a worker forked after it was made (gunicorn's
    workers are forked from a master that may have imported and used this module) must not
    inherit it."""
    parent = new_id()
    assert parent.split("-")[0] == f"{os.getpid():x}"
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its id and leave at once
        try:
            os.write(writing, new_id().encode())
        finally:
            os._exit(0)
    os.close(writing)
    child = os.read(reading, 200).decode()
    os.close(reading)
    os.waitpid(pid, 0)
    child_pid, child_random, _ = child.split("-")
    parent_pid, parent_random, _ = parent.split("-")
    assert child_pid == f"{pid:x}" != parent_pid
    assert child_random != parent_random
    assert new_id().rsplit("-", 1)[0] == parent.rsplit("-", 1)[0]
