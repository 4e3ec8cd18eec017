"""Backpressure for broadcasts: which ones a connection takes, and cutting off a peer that
does not keep up.

A broadcast never waits for a peer. It is queued while the peer's queue stays under
``max_send_buffer``; past that, the peer has ``slow_reader_grace`` and ``max_send_burst`` to
catch up, and is closed with 1008 once either runs out.
"""

from __future__ import annotations

from time import monotonic

import gevent

from ..protocol import CloseCode
from .base import AWAITING_KEY3, OPEN, ConnectionBase, log

__all__ = ["SLOW_READER_REASON", "Backpressure"]

SLOW_READER_REASON = "too slow to read"
"""The 1008 close reason of a peer whose send queue overflowed (see ``max_send_buffer``)."""


class Backpressure(ConnectionBase):
    """Admitting broadcasts to a connection's queue, and cutting off a peer left behind."""

    _over_since: float | None
    """Since when the send queue has been over ``max_send_buffer``; None while under it."""
    _own: int
    """Bytes of the application's own ``send`` calls queued or being written: ``send`` waits
    for them to drain, so ``max_send_burst`` bounds only what piles up besides them."""

    def _admit_broadcast(self, size: int) -> bool:
        """Whether a broadcast of ``size`` bytes may be queued for this peer; one that it would
        leave too far behind is cut off instead (see :meth:`_within_burst`)."""
        state = self._endpoint.state
        if self._closed or (state is not OPEN and state is not AWAITING_KEY3):
            return False
        queued = self._queued + size
        if state is AWAITING_KEY3:
            queued += self._endpoint.bytes_held
        if queued <= self._settings.max_send_buffer:
            return True
        if self._over_since is None:
            self._start_grace()
        if self._within_burst(queued):
            return True
        self._cut_off(queued)
        return False

    def _within_burst(self, queued: int) -> bool:
        """Whether a queue of ``queued`` bytes, over ``max_send_buffer``, is still a burst the
        peer may catch up with: under ``max_send_burst`` (the application's own sends aside)
        and within ``slow_reader_grace``."""
        settings = self._settings
        since = self._over_since
        return (
            queued - self._own <= settings.max_send_burst
            and since is not None
            and monotonic() - since < settings.slow_reader_grace
        )

    def _start_grace(self) -> None:
        """Start the clock of a queue gone over ``max_send_buffer``: a peer still over it when
        ``slow_reader_grace`` ends is cut off, whether or not more broadcasts come."""
        since = self._over_since = monotonic()
        gevent.spawn_later(self._settings.slow_reader_grace, self._cut_off_if_still_over, since)

    def _cut_off_if_still_over(self, since: float) -> None:
        if self._over_since == since and not self._closed:
            self._cut_off(self._queued)

    def _cut_off(self, queued: int) -> None:
        """Close a peer that does not read fast enough with 1008, dropping what it did not
        take; its writer sends the close frame, and a timer drops it if that cannot leave."""
        settings = self._settings
        since = self._over_since
        log.warning(
            "%s: %d bytes queued, over max_send_buffer=%d for %.1f s (max_send_burst=%d); "
            "closing a peer that does not keep up",
            self.peer,
            queued,
            settings.max_send_buffer,
            0.0 if since is None else monotonic() - since,
            settings.max_send_burst,
        )
        self._queued -= sum(len(data) for data in self._out)
        self._out.clear()
        # What is left queued is a write under way: the application's own bytes dropped
        # with the rest no longer count (all of them, when no write is under way).
        self._own = min(self._own, self._queued)
        self._endpoint.fail(CloseCode.POLICY_VIOLATION, SLOW_READER_REASON)
        self._process_events(write_now=False)
        gevent.spawn_later(settings.close_timeout, self._abort)
