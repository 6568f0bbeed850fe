"""The wire format between the grader and the sandboxed runner.

One message is a *frame*::

    b"CKG1" | header length (4 bytes, big-endian) | blob length (8 bytes) | header | blob

The header is a JSON object; its ``"arrays"`` entry lists the arrays carried in
the blob, in order, each with its key, dtype, shape and memory layout.  There
is no pickle and no compression: the reader checks every declared size against
its limits *before* reading, so a record can never make the grader allocate
more than it allowed (a small compressed record that inflates to gigabytes is
impossible by construction).

Used on both sides: the runner (inside the sandbox) imports only this module,
the standard library and NumPy.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time

import numpy as np

MAGIC = b"CKG1"
PREFIX = struct.Struct(">4sIQ")
# numbers only: never an object array, never a structured dtype
DTYPES = frozenset(["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                    "uint64", "float16", "float32", "float64"])
LAYOUTS = ("C", "F", "strided")


class ProtocolError(Exception):
    """A frame that breaks the format or a limit: the other side cannot be trusted."""


class ChannelClosed(Exception):
    """The other side closed the channel (or died) before a whole frame arrived."""


class ReadTimeout(Exception):
    """No whole frame arrived before the deadline."""


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """One frame holding ``header`` (JSON-serialisable) and the numeric ``arrays``."""
    specs, chunks = [], []
    for key, value in (arrays or {}).items():
        arr = np.asarray(value)
        if arr.dtype.name not in DTYPES:
            raise TypeError(f"{key}: dtype {arr.dtype} cannot be sent (numbers only)")
        layout = "C" if arr.flags.c_contiguous else ("F" if arr.flags.f_contiguous else "strided")
        specs.append({"key": str(key), "dtype": arr.dtype.name, "shape": list(arr.shape),
                      "layout": layout})
        chunks.append(np.ascontiguousarray(arr).tobytes())
    body = json.dumps(dict(header, arrays=specs), allow_nan=True).encode("utf-8")
    blob = b"".join(chunks)
    return PREFIX.pack(MAGIC, len(body), len(blob)) + body + blob


def _restore_layout(arr: np.ndarray, layout: str) -> np.ndarray:
    """The array with the memory layout it was sent with (values unchanged)."""
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided" and arr.ndim >= 1 and arr.size:
        # a view of every other column of a wider array: not contiguous, like the original
        wide = np.full(arr.shape[:-1] + (2 * arr.shape[-1],), np.nan, dtype=arr.dtype) \
            if arr.dtype.kind == "f" else np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        view = wide[..., ::2]
        view[...] = arr
        return view
    return arr


def decode_arrays(header: dict, blob: bytes) -> dict:
    """The arrays a frame declares, checked against the blob's real size."""
    specs = header.get("arrays")
    if not isinstance(specs, list):
        raise ProtocolError("header without an 'arrays' list")
    out, pos = {}, 0
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES \
                or spec.get("layout") not in LAYOUTS or not isinstance(spec.get("key"), str):
            raise ProtocolError(f"bad array description {str(spec)[:200]}")
        shape = spec.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) \
                or len(shape) > 32:
            raise ProtocolError(f"bad shape {str(shape)[:200]}")
        dtype = np.dtype(spec["dtype"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
        if nbytes < 0 or pos + nbytes > len(blob):
            raise ProtocolError(f"array {spec['key']!r} claims {nbytes} bytes beyond the frame")
        arr = np.frombuffer(blob, dtype=dtype, count=nbytes // dtype.itemsize, offset=pos)
        out[spec["key"]] = _restore_layout(arr.reshape(shape).copy(), spec["layout"])
        pos += nbytes
    if pos != len(blob):
        raise ProtocolError(f"{len(blob) - pos} bytes in the frame that no array declares")
    return out


def write_frame(fd: int, header: dict, arrays: dict | None = None, write=os.write) -> None:
    """Send one whole frame on the file descriptor ``fd``."""
    data = memoryview(encode(header, arrays))
    while data:
        sent = write(fd, data)
        data = data[sent:]


class FrameReader:
    """Reads frames from a file descriptor, never more than the limits allow.

    ``max_header`` and ``max_blob`` bound each frame; ``deadline`` (a
    ``time.monotonic()`` value) bounds the wait.  Raises :class:`ProtocolError`
    for a frame that breaks the format, :class:`ChannelClosed` at end of
    stream and :class:`ReadTimeout` past the deadline.
    """

    def __init__(self, fd: int, max_header: int = 8 << 20, max_blob: int = 256 << 20):
        self.fd, self.max_header, self.max_blob = fd, max_header, max_blob
        self.buffer = bytearray()

    def _fill(self, size: int, deadline: float | None) -> None:
        while len(self.buffer) < size:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise ReadTimeout()
            chunk = os.read(self.fd, min(1 << 20, max(size - len(self.buffer), 65536)))
            if not chunk:
                raise ChannelClosed()
            self.buffer += chunk

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self, deadline: float | None = None) -> tuple:
        """The next frame as (header dict, arrays dict)."""
        self._fill(PREFIX.size, deadline)
        magic, header_len, blob_len = PREFIX.unpack(bytes(self.buffer[:PREFIX.size]))
        if magic != MAGIC:
            raise ProtocolError("bytes that do not start a frame")
        if header_len > self.max_header or blob_len > self.max_blob:
            raise ProtocolError(f"a frame of {header_len} + {blob_len} bytes is over the limit "
                                f"({self.max_header} + {self.max_blob})")
        self._fill(PREFIX.size + header_len + blob_len, deadline)
        self._take(PREFIX.size)
        try:
            header = json.loads(self._take(header_len).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f"header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise ProtocolError("header is not a JSON object")
        return header, decode_arrays(header, self._take(blob_len))
