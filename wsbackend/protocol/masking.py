"""Masking and unmasking of hybi frame payloads (RFC 6455 §5.3).

The hot path of every frame a client sends. ``wsaccel`` (the ``speedups`` extra) is used when it
is installed; the pure-Python fallback XORs small payloads as one big integer and large ones through
per-byte translate tables, the fastest pure forms measured (see ``bench/bench_masking.py``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ACCELERATED", "apply_mask", "apply_mask_pure"]


_TRANSLATE_THRESHOLD = 16384
"""From this size on, per-byte translate tables beat one big-integer XOR (bench_masking.py)."""
_IDENTITY = bytes(range(256))


def _xor_as_integer(data: bytes, key: bytes) -> bytes:
    size = len(data)
    key = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _xor_by_translation(data: bytes, mask: bytes) -> bytes:
    out = bytearray(data)
    for offset in range(4):
        table = _xor_as_integer(_IDENTITY, mask[offset : offset + 1] * 4)
        out[offset::4] = data[offset::4].translate(table)
    return bytes(out)


def apply_mask_pure(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same."""
    size = len(data)
    if size == 0:
        return b""
    if size >= _TRANSLATE_THRESHOLD:
        return _xor_by_translation(data, mask)
    return _xor_as_integer(data, mask)


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
