"""Masking and unmasking of hybi frame payloads (RFC 6455 §5.3).

The hot path of every frame a client sends. ``wsaccel`` (the ``speedups`` extra) is used when it
is installed; the pure-Python fallback XORs the payload as one big integer, which is the fastest
pure form measured (see ``bench/bench_masking.py``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ACCELERATED", "apply_mask", "apply_mask_pure"]


def apply_mask_pure(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same."""
    size = len(data)
    if size == 0:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _load_accelerated() -> Callable[[bytes, bytes], bytes] | None:
    try:
        from wsaccel.xormask import XorMaskerSimple
    except ImportError:
        return None

    def apply_mask_wsaccel(data: bytes, mask: bytes) -> bytes:
        result: bytes = XorMaskerSimple(mask).process(data)
        return result

    return apply_mask_wsaccel


_accelerated = _load_accelerated()
ACCELERATED = _accelerated is not None
"""Whether :func:`apply_mask` is the C-backed implementation."""

apply_mask: Callable[[bytes, bytes], bytes] = _accelerated or apply_mask_pure
