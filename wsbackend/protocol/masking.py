"""Masking and unmasking of hybi frame payloads (RFC 6455 §5.3).

The hot path of every frame a client sends. The C ``apply_mask`` that ships inside the
``websockets`` package (a dependency; wheels for every CPython it supports, and its source
build skips the extension where there is no compiler) is used when it loads; the pure-Python
fallback XORs small payloads as one big integer and large ones through per-byte translate
tables, the fastest pure forms measured. ``bench/bench_masking.py`` has the figures, and why
not wsaccel.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Callable

__all__ = ["ACCELERATED", "Maskable", "apply_mask", "apply_mask_pure"]

Maskable = bytes | memoryview
"""What :func:`apply_mask` takes: a memoryview lets a parser unmask a payload in place in
the bytes it read, without slicing a copy first."""

_TRANSLATE_THRESHOLD = 16384
"""From this size on, per-byte translate tables beat one big-integer XOR (bench_masking.py)."""
_IDENTITY = bytes(range(256))


def _xor_as_integer(data: Maskable, key: bytes) -> bytes:
    size = len(data)
    key = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _xor_by_translation(data: bytes, mask: bytes) -> bytes:
    out = bytearray(data)
    for offset in range(4):
        table = _xor_as_integer(_IDENTITY, mask[offset : offset + 1] * 4)
        out[offset::4] = data[offset::4].translate(table)
    return bytes(out)


def apply_mask_pure(data: Maskable, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same."""
    size = len(data)
    if size == 0:
        return b""
    if size >= _TRANSLATE_THRESHOLD:
        return _xor_by_translation(bytes(data), mask)
    return _xor_as_integer(data, mask)


def _load_accelerated() -> Callable[[Maskable, bytes], bytes] | None:
    """websockets' C function, loaded from its extension file alone: importing
    ``websockets.speedups`` would first run the package's ``__init__``, which pulls in socket
    and threading, modules this sans-IO layer keeps out (tests/test_layers.py)."""
    package = importlib.util.find_spec("websockets")  # finds, does not import
    if package is None or not package.submodule_search_locations:
        return None
    locations = list(package.submodule_search_locations)
    spec = importlib.machinery.PathFinder.find_spec("websockets.speedups", locations)
    if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return None  # no compiled extension: a source install without a compiler
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accelerated: Callable[[Maskable, bytes], bytes] = module.apply_mask
    if accelerated(b"\x00\x00\x00\x00\x00", b"\x01\x02\x03\x04") != b"\x01\x02\x03\x04\x01":
        return None  # not the function we measured: a private module may change
    return accelerated


_accelerated = _load_accelerated()
ACCELERATED = _accelerated is not None
"""Whether :func:`apply_mask` is the C-backed implementation."""

apply_mask: Callable[[Maskable, bytes], bytes] = _accelerated or apply_mask_pure
