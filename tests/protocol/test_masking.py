"""Masking (wsbackend/protocol/masking.py): the accelerated and pure paths agree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wsbackend.protocol import masking


def test_rfc_example() -> None:
    """RFC 6455 §5.7: "Hello" under mask 37 fa 21 3d."""
    mask = bytes.fromhex("37fa213d")
    assert masking.apply_mask_pure(b"Hello", mask) == bytes.fromhex("7f9f4d5158")
    assert masking.apply_mask(b"Hello", mask) == bytes.fromhex("7f9f4d5158")


def test_accelerated_is_loaded() -> None:
    """The test extra installs wsaccel, so the fast path is the one under test too."""
    assert masking.ACCELERATED


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
