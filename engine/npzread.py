"""Reading an .npz file without trusting it.

`np.load` allocates whatever an entry's header declares before reading a byte of it, so a
small file can ask for gigabytes. Here every entry's declared size (in the zip directory)
and its array header (shape and dtype) are read first, so that the caller can check them
against what it expects before any array is allocated; arrays are then read in chunks into
exactly the declared size. Only real numbers are read: objects (which numpy would unpickle),
complex, structured and string arrays are refused.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from engine.errors import CharrnnError
from engine.files import open_regular

ZIP_MAGIC = b"PK\x03\x04"
NPY_SUFFIX = ".npy"
MAX_HEADER_BYTES = 65536  # numpy's own headers are a few hundred bytes
READ_CHUNK = 1 << 22
REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than about 1032 to 1

# What a damaged zip raises while it is read, besides OSError.
CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError)


@dataclass(frozen=True)
class Header:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class NpzReader:
    """Entries of an .npz by name (without `.npy`); use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._zip: zipfile.ZipFile | None = None
        self.entries: dict[str, zipfile.ZipInfo] = {}

    def __enter__(self) -> NpzReader:
        self._file = open_regular(self.path, "a checkpoint")  # a FIFO swapped in never hangs
        try:
            if self._file.read(4) != ZIP_MAGIC:
                raise self.error("not a charrnn checkpoint (not an .npz file)")
            self._file.seek(0)
            self._zip = zipfile.ZipFile(self._file)
            for info in self._zip.infolist():
                if not info.filename.endswith(NPY_SUFFIX) or info.is_dir():
                    raise self.error(
                        f"not a charrnn checkpoint (entry {info.filename!r} is not an array)"
                    )
                self._check_declared_size(info)
                self.entries[info.filename[: -len(NPY_SUFFIX)]] = info
        except CORRUPT as exc:
            self.close()
            raise self.error(f"truncated or corrupt checkpoint ({exc})") from None
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._file is not None:
            self._file.close()

    def error(self, reason: str) -> CharrnnError:
        return CharrnnError(f"{self.path}: {reason}")

    def _check_declared_size(self, info: zipfile.ZipInfo) -> None:
        """A declared uncompressed size the stored bytes cannot produce is a lie (or damage)."""
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > MAX_DEFLATE_RATIO * info.compress_size + MAX_HEADER_BYTES
        ):
            raise self.error(
                f"corrupt checkpoint (entry {info.filename} declares {info.file_size:,} bytes "
                f"from {info.compress_size:,})"
            )

    def declared_size(self, name: str) -> int:
        """The uncompressed size the zip directory declares for entry `name`."""
        return self.entries[name].file_size

    def header(self, name: str) -> Header:
        """Entry `name`'s array header, read without reading its data."""
        try:
            with self._open(name) as f:
                return self._header(name, f)
        except CORRUPT as exc:
            raise self.error(f"truncated or corrupt checkpoint ({exc})") from None

    def read(self, name: str, max_bytes: int) -> np.ndarray:
        """Entry `name`'s array, refused unread if it declares more than `max_bytes`."""
        if self.declared_size(name) > max_bytes + MAX_HEADER_BYTES:
            raise self.error(
                f"entry {name} declares {self.declared_size(name):,} bytes, more than "
                f"the {max_bytes:,} it can hold"
            )
        try:
            with self._open(name) as f:
                header = self._header(name, f)
                if header.nbytes > max_bytes:
                    raise self.error(
                        f"entry {name} declares shape {header.shape}, more than the "
                        f"{max_bytes:,} bytes it can hold"
                    )
                flat = np.empty(math.prod(header.shape), header.dtype)
                self._fill(name, f, flat.view(np.uint8))
                if f.read(1):  # reading to the end also makes zipfile check the CRC
                    raise self.error(f"corrupt checkpoint (entry {name} is longer than its shape)")
        except CORRUPT as exc:
            raise self.error(f"truncated or corrupt checkpoint ({exc})") from None
        return flat.reshape(header.shape, order="F" if header.fortran else "C")

    def read_chunks(self, name: str, max_bytes: int, items: int = 1 << 20) -> Iterator[np.ndarray]:
        """A one-dimensional entry's values, `items` at a time: never all in memory."""
        try:
            with self._open(name) as f:
                header = self._header(name, f)
                if len(header.shape) != 1 or header.nbytes > max_bytes:
                    raise self.error(f"entry {name} has shape {header.shape}, not a short list")
                left = header.shape[0]
                while left:
                    chunk = np.empty(min(items, left), header.dtype)
                    self._fill(name, f, chunk.view(np.uint8))
                    left -= len(chunk)
                    yield chunk
                if f.read(1):
                    raise self.error(f"corrupt checkpoint (entry {name} is longer than its shape)")
        except CORRUPT as exc:
            raise self.error(f"truncated or corrupt checkpoint ({exc})") from None

    def _open(self, name: str) -> IO[bytes]:
        assert self._zip is not None, "use NpzReader as a context manager"
        return self._zip.open(self.entries[name])

    def _header(self, name: str, f: IO[bytes]) -> Header:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                parsed = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
            elif version == (2, 0):
                parsed = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
            else:
                raise ValueError(f"npy format version {version} is not supported")
        except (ValueError, TypeError, SyntaxError) as exc:
            raise self.error(f"corrupt checkpoint (entry {name}: {exc})") from None
        shape, fortran, dtype = parsed
        if dtype.hasobject:
            raise self.error("contains pickled objects; refused (charrnn never unpickles)")
        if dtype.kind not in REAL_KINDS or dtype.fields is not None or dtype.subdtype:
            raise self.error(
                f"entry {name} holds {dtype} values; a checkpoint holds only real numbers"
            )
        return Header(tuple(shape), dtype, bool(fortran))

    def _fill(self, name: str, f: IO[bytes], out: np.ndarray) -> None:
        done = 0
        while done < len(out):
            chunk = f.read(min(READ_CHUNK, len(out) - done))
            if not chunk:
                raise self.error(f"truncated or corrupt checkpoint (entry {name} ends early)")
            out[done : done + len(chunk)] = np.frombuffer(chunk, np.uint8)
            done += len(chunk)
