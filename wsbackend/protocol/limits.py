"""Every size limit of the protocol core, with its default and the reason for it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that protect a server from a peer that sends too much.

    Attributes:
        max_message_size: Largest message, after decompression, that the endpoint assembles.
            16 MiB: enough for the Autobahn suite's largest cases, small enough that a handful of
            hostile peers cannot exhaust a worker. Larger input is refused with 1009.
        max_frame_size: Largest single frame payload accepted, checked from the header before
            the payload is buffered.
        max_request_head_size: Largest HTTP request head parsed (431 past it).
        max_request_headers: Most header lines in a request head (431 past it).
    """

    max_message_size: int = 16 * 1024 * 1024
    max_frame_size: int = 16 * 1024 * 1024
    max_request_head_size: int = 16 * 1024
    max_request_headers: int = 128


DEFAULT_LIMITS = Limits()
