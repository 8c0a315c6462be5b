"""AWS event stream encoder (``application/vnd.amazon.eventstream``).

One message is:

    prelude   total length (uint32 BE) | headers length (uint32 BE)
    prelude CRC32 of those 8 bytes (uint32 BE)
    headers   each: name length (uint8) | name | value type (uint8) | value
              (only type 7, string: length uint16 BE | UTF-8 bytes, is needed)
    payload
    message CRC32 of everything before it (uint32 BE)

Bedrock's ConverseStream sends ``:event-type``, ``:content-type`` and
``:message-type`` headers; errors inside a stream are messages of type
``exception`` with an ``:exception-type`` header.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def encode(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    parts = []
    for name, value in headers:
        raw_name = name.encode()
        raw_value = value.encode()
        if len(raw_name) > 255 or len(raw_value) > 65535:
            raise ValueError("event stream header too long")
        parts.append(bytes((len(raw_name),)) + raw_name + bytes((_STRING,)) + struct.pack(">H", len(raw_value)) + raw_value)
    raw_headers = b"".join(parts)
    prelude = _PRELUDE.pack(12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + raw_headers + payload
    return message + _CRC.pack(zlib.crc32(message))


def event(event_type: str, payload: bytes) -> bytes:
    return encode(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")], payload
    )


def exception(exception_type: str, payload: bytes) -> bytes:
    return encode(
        [(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")],
        payload,
    )
