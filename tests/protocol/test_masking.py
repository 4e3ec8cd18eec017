"""Masking (wsbackend/protocol/masking.py): the accelerated and pure paths agree."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.servers import ROOT, TIME_UNIT
from wsbackend.protocol import masking


def test_rfc_example() -> None:
    """RFC 6455 §5.7: "Hello" under mask 37 fa 21 3d."""
    mask = bytes.fromhex("37fa213d")
    assert masking.apply_mask_pure(b"Hello", mask) == bytes.fromhex("7f9f4d5158")
    assert masking.apply_mask(b"Hello", mask) == bytes.fromhex("7f9f4d5158")


def test_accelerated_is_loaded() -> None:
    """websockets is a dependency, so the fast path is the one under test too."""
    assert masking.ACCELERATED


@given(st.binary(max_size=20000), st.binary(min_size=4, max_size=4), st.integers(0, 8))
def test_a_view_into_read_bytes_unmasks_like_a_copy(data: bytes, mask: bytes, skip: int) -> None:
    """The parser hands large payloads over as memoryviews of what it read."""
    view = memoryview(data)[skip:]
    expected = masking.apply_mask_pure(data[skip:], mask)
    assert masking.apply_mask(view, mask) == expected
    assert masking.apply_mask_pure(view, mask) == expected


_WITHOUT_ACCELERATOR = """
import sys
sys.modules["websockets"] = None  # an install without websockets' C extension looks the same
from wsbackend.protocol import Endpoint, ProtocolVersion, Side, masking
assert not masking.ACCELERATED and masking.apply_mask is masking.apply_mask_pure
client = Endpoint(ProtocolVersion.RFC_6455, Side.CLIENT)
server = Endpoint(ProtocolVersion.RFC_6455)
for size in (5, 20000, 300000):
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    client.send_binary(payload)
    server.receive_data(client.data_to_send())
    (event,) = server.events_received()
    assert event.data == payload, size
print("ok")
"""


def test_without_the_accelerator_the_pure_fallback_carries_frames() -> None:
    """A source install where the C extension could not be built still works, masking in
    pure Python, small and large frames alike."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_ACCELERATOR], cwd=ROOT, capture_output=True,
        text=True, timeout=120 * TIME_UNIT, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr


@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4))
def test_implementations_agree(data: bytes, mask: bytes) -> None:
    pure = masking.apply_mask_pure(data, mask)
    assert masking.apply_mask(data, mask) == pure
    assert masking.apply_mask_pure(pure, mask) == data


@settings(deadline=None)  # 70 KB through the pure fallback: slow on a loaded machine
@given(
    st.integers(min_value=16384, max_value=70000),
    st.binary(min_size=4, max_size=4),
    st.integers(min_value=0, max_value=255),
)
def test_large_payloads_take_the_translate_path_and_agree(
    size: int, mask: bytes, fill: int
) -> None:
    """Above the threshold the pure fallback switches method; it must give the same bytes."""
    data = bytes((fill + index * 7) & 0xFF for index in range(size))
    assert masking.apply_mask_pure(data, mask) == masking.apply_mask(data, mask)
