"""Masking options measured against each other: websockets' and wsaccel's C functions (the
first is what ``wsbackend.protocol.masking`` uses) and the pure-Python candidates.

Run: ``python bench/bench_masking.py``. Prints the median time per call for each payload size and
each implementation, and the ratio to the pure fallback that ``wsbackend.protocol.masking`` uses.
"""

from __future__ import annotations

import os
import statistics
import timeit

from wsbackend.protocol.masking import apply_mask_pure

SIZES = (16, 125, 1024, 65536, 1 << 20)
MASK = os.urandom(4)


def mask_bytewise(data: bytes, mask: bytes) -> bytes:
    """The textbook loop: one XOR per byte."""
    return bytes(byte ^ mask[index & 3] for index, byte in enumerate(data))


def mask_translate(data: bytes, mask: bytes) -> bytes:
    """wsproto's idea: four translate tables, one per mask byte, applied to strided slices."""
    tables = [bytes(byte ^ key for byte in range(256)) for key in mask]
    out = bytearray(data)
    for offset in range(4):
        out[offset::4] = data[offset::4].translate(tables[offset])
    return bytes(out)


def candidates() -> dict[str, object]:
    found: dict[str, object] = {
        "pure fallback (core)": apply_mask_pure,
        "translate": mask_translate,
        "bytewise": mask_bytewise,
    }
    try:
        from websockets.speedups import apply_mask
    except ImportError:
        pass
    else:
        found["websockets (C)"] = apply_mask
    try:
        from wsaccel.xormask import XorMaskerSimple
    except ImportError:
        return found
    found["wsaccel (C)"] = lambda data, mask: XorMaskerSimple(mask).process(data)
    return found


def median_seconds(function: object, data: bytes, repeat: int = 7) -> float:
    timer = timeit.Timer(lambda: function(data, MASK))  # type: ignore[operator]
    number, _ = timer.autorange()
    number = max(1, number // 5)
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def main() -> None:
    funcs = candidates()
    reference = apply_mask_pure(os.urandom(4096), MASK)
    for name, function in funcs.items():
        assert function(apply_mask_pure(b"x" * 4096, MASK), MASK) == b"x" * 4096, name  # type: ignore[operator]
    del reference
    print(f"{'size':>8} " + " ".join(f"{name:>22}" for name in funcs))
    for size in SIZES:
        data = os.urandom(size)
        base = median_seconds(apply_mask_pure, data)
        cells = []
        for name, function in funcs.items():
            if name == "bytewise" and size > 65536:
                cells.append(f"{'-':>22}")
                continue
            seconds = median_seconds(function, data)
            cells.append(f"{seconds * 1e6:>11.2f} us ({base / seconds:>5.2f}x)")
        print(f"{size:>8} " + " ".join(cells))


if __name__ == "__main__":
    main()
