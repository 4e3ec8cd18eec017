"""Masking (wsbackend/protocol/masking.py): the accelerated and pure paths agree."""

from __future__ import annotations

from hypothesis import given
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
