"""The protocol versions a client may speak, and what sets them apart."""

from __future__ import annotations

import enum

__all__ = ["SUPPORTED_HYBI_VERSIONS", "ProtocolVersion"]


class ProtocolVersion(enum.Enum):
    """One member per wire protocol the server speaks.

    The value is the name used in logs and in :attr:`Client.version` of the application layer.
    """

    HIXIE_75 = "hixie-75"
    HIXIE_76 = "hixie-76"
    HYBI_07 = "hybi-07"
    HYBI_08 = "hybi-08"
    RFC_6455 = "rfc6455"

    @property
    def is_hixie(self) -> bool:
        """True for the drafts with 0x00..0xFF text frames and no close codes."""
        return self is _HIXIE_75 or self is _HIXIE_76


# Enum members read once (see wsbackend.protocol).
_HIXIE_75, _HIXIE_76 = ProtocolVersion.HIXIE_75, ProtocolVersion.HIXIE_76


SUPPORTED_HYBI_VERSIONS: dict[str, ProtocolVersion] = {
    "13": ProtocolVersion.RFC_6455,
    "8": ProtocolVersion.HYBI_08,
    "7": ProtocolVersion.HYBI_07,
}
"""``Sec-WebSocket-Version`` values we accept, in the order the 426 reply lists them."""
