"""UTF-8 validation options: CPython's decoder (what the core uses) against wsaccel's validator.

Run: ``python bench/bench_utf8.py``. A text message has to become a ``str`` for the application
anyway, so the decoder both validates and produces the result; wsaccel only validates, and would
still need the decode after it.
"""

from __future__ import annotations

import codecs
import statistics
import timeit

SIZES = (16, 125, 1024, 65536, 1 << 20)
SAMPLES = {
    "ascii": "hello world, ",
    "mixed": "κόσμε, ÿ€😀 hello ",
}


def decode_whole(data: bytes) -> object:
    return data.decode("utf-8")


def decode_incremental(data: bytes) -> object:
    return codecs.getincrementaldecoder("utf-8")("strict").decode(data, True)


def candidates() -> dict[str, object]:
    found: dict[str, object] = {
        "bytes.decode (core)": decode_whole,
        "incremental": decode_incremental,
    }
    try:
        from wsaccel.utf8validator import Utf8Validator
    except ImportError:
        return found

    def wsaccel_then_decode(data: bytes) -> object:
        valid = Utf8Validator().validate(data)[0]
        return data.decode("utf-8") if valid else None

    found["wsaccel validate+decode"] = wsaccel_then_decode
    found["wsaccel validate only"] = lambda data: Utf8Validator().validate(data)
    return found


def median_seconds(function: object, data: bytes, repeat: int = 7) -> float:
    timer = timeit.Timer(lambda: function(data))  # type: ignore[operator]
    number, _ = timer.autorange()
    number = max(1, number // 5)
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def main() -> None:
    funcs = candidates()
    for sample_name, sample in SAMPLES.items():
        print(f"-- {sample_name} text")
        print(f"{'size':>8} " + " ".join(f"{name:>26}" for name in funcs))
        for size in SIZES:
            data = (sample * (size // len(sample) + 1)).encode("utf-8")[:size]
            data = data.decode("utf-8", "ignore").encode("utf-8")
            base = median_seconds(decode_whole, data)
            cells = []
            for function in funcs.values():
                seconds = median_seconds(function, data)
                cells.append(f"{seconds * 1e6:>13.2f} us ({base / seconds:>5.2f}x)")
            print(f"{size:>8} " + " ".join(cells))


if __name__ == "__main__":
    main()
