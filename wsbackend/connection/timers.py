"""The clocks of a connection: keepalive pings, and the deadline of a closing handshake.

Keepalive is an event-loop timer, not a greenlet: an idle connection costs one timer.
(hixie-76's key deadline is the reader's: it bounds one read.)
"""

from __future__ import annotations

import contextlib
import socket
from time import monotonic
from typing import Any

import gevent

from ..protocol import CloseCode, State
from .base import log
from .writing import Writing

__all__ = ["Timers"]

_KEEPALIVE_PAYLOAD = b"wsbackend-keepalive"
_GIVE_UP_WRITE_TIMEOUT = 1.0


class Timers(Writing):
    """Keepalive and close deadlines, on top of the writing side that sends their frames."""

    _keepalive_timer: Any
    """The event loop's timer for the next keepalive check; None when keepalive is off."""

    def _start_keepalive(self) -> None:
        interval = self._settings.ping_interval
        self._keepalive_timer = None
        if interval is not None:
            self._keepalive_in(interval)

    def _keepalive_in(self, delay: float) -> None:
        timer = self._keepalive_timer = gevent.get_hub().loop.timer(max(0.0, delay))
        timer.start(self._keepalive)

    def _stop_keepalive(self) -> None:
        timer = self._keepalive_timer
        if timer is not None:
            self._keepalive_timer = None
            timer.close()

    def _keepalive(self) -> None:
        """Ping a silent peer and drop a dead one, then look again when it is due.

        Runs in the event loop, where nothing may block: a ping joins the queue for a writer
        greenlet, and only a dead peer's farewell gets a greenlet of its own.
        """
        if self._keepalive_timer is None or self._finishing or self._aborted:
            return
        self._keepalive_timer.close()
        settings = self._settings
        assert settings.ping_interval is not None
        now = monotonic()
        silent = now - self._last_seen
        if self._endpoint.version.is_hixie or self._endpoint.state is not State.OPEN:
            self._keepalive_in(settings.ping_interval)
        elif not self._reading:
            # Nobody reads, so a pong could not be seen: no verdict on liveness.
            self._last_seen = now
            self._keepalive_in(settings.ping_interval)
        elif silent >= settings.ping_interval + settings.ping_timeout:
            log.info("%s: silent for %.1f s after a ping; dropping it as dead", self.peer, silent)
            self._keepalive_timer = None
            gevent.spawn(self._give_up, CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        elif silent >= settings.ping_interval:
            self._endpoint.send_ping(_KEEPALIVE_PAYLOAD)
            self._flush_endpoint(write_now=False)
            self._keepalive_in(settings.ping_timeout)
        else:
            self._keepalive_in(self._last_seen + settings.ping_interval - now)

    def _give_up(self, code: int, reason: str) -> None:
        """End a connection whose peer no longer answers, telling it why in a close frame if
        the socket takes one at once (nothing else half-written is in the way)."""
        self._endpoint.fail(code, reason)
        close_frame = self._endpoint.data_to_send()
        if not self._out and not self._writing:
            with contextlib.suppress(OSError), gevent.Timeout(_GIVE_UP_WRITE_TIMEOUT, False):
                self._sock.sendall(close_frame)
        self._process_events(write_now=False)
        self._aborted = True
        self._wake_drained()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _arm_close_deadline(self) -> None:
        """Drop a peer that does not answer our close frame within ``close_timeout``."""
        gevent.spawn_later(self._settings.close_timeout, self._abort_unless_closed)

    def _abort_unless_closed(self) -> None:
        if not self._closed:
            log.info("%s: no close frame within %s s", self.peer, self._settings.close_timeout)
            self._abort()
