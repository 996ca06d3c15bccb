"""Reading the catalog's own files: contained, bounded, and only regular files.

Every path a catalog names (catalog.yaml, campaign and locale files, partials, reference images
and masks) is resolved with its symlinks followed and must stay inside the catalog directory
(`Path.is_relative_to` on real paths, never a string prefix). A directory, a named pipe, a device,
a dangling symlink or a symlink loop where a file belongs is a clear problem, and a file is read
only up to its size limit: nothing ever blocks on a pipe or reads /dev/zero to the end.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class SourceProblem(Exception):
    """A catalog file that cannot be used; the message says why (and names the resolved target)."""

    def __init__(self, message: str, line: int = 1):
        self.line = line
        super().__init__(message)


class SourceMissing(SourceProblem):
    """Nothing at all at that path (not even a dangling symlink)."""


def real_root(root: Path) -> Path:
    return Path(os.path.realpath(root))


def contained(path: Path, root: Path) -> Path:
    """The real path of `path`, symlinks followed. SourceProblem when it leads outside `root`, is
    dangling or loops; SourceMissing when nothing is there."""
    try:
        real = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        if not os.path.lexists(path):
            raise SourceMissing("does not exist") from None
        target = os.path.realpath(path)
        where = "" if Path(target).is_relative_to(real_root(root)) else ", outside the catalog directory"
        raise SourceProblem(f"is a symlink to {target}, which does not exist{where}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceProblem("is a symlink loop (it leads back to itself)") from None
        raise SourceProblem(f"cannot be read: {exc.strerror or exc}") from None
    if not real.is_relative_to(real_root(root)):
        raise SourceProblem(f"resolves to {real}, outside the catalog directory {real_root(root)}")
    return real


def contained_dir(path: Path, root: Path) -> Path | None:
    """A catalog sub-directory (campaigns/, locales/ ...): its real path, None when absent or not a
    directory. SourceProblem when it leads outside the catalog (checked before it is listed)."""
    try:
        real = contained(path, root)
    except SourceMissing:
        return None
    return real if real.is_dir() else None


def regular_file(path: Path, root: Path, max_bytes: int) -> Path:
    """`path` resolved, checked to be a contained regular file of at most `max_bytes`."""
    real = contained(path, root)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise SourceProblem(f"cannot be read: {exc.strerror or exc}") from None
    _check_kind(st, real, max_bytes)
    return real


def _check_kind(st: os.stat_result, real: Path, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise SourceProblem("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) \
            or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise SourceProblem(f"is {kind}, not a regular file ({real})")
    if st.st_size > max_bytes:
        raise SourceProblem(f"is {_mb(st.st_size)}; the limit is {_mb(max_bytes)} (limits: file_mb in catalog.yaml)")


def read_bytes(path: Path, root: Path, max_bytes: int) -> bytes:
    """The bytes of a contained regular file of at most `max_bytes` (never more is read)."""
    real = regular_file(path, root, max_bytes)
    try:  # O_NONBLOCK: a file swapped for a pipe after the check still cannot block the read
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceProblem(f"cannot be read: {exc.strerror or exc}") from None
    try:
        _check_kind(os.fstat(fd), real, max_bytes)
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except BlockingIOError:
        raise SourceProblem("is not a regular file") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise SourceProblem(f"is larger than {_mb(max_bytes)} (limits: file_mb in catalog.yaml)")
    return b"".join(chunks)


def read_text(path: Path, root: Path, max_bytes: int) -> str:
    """A contained text file as UTF-8; a bad byte is reported on its own line."""
    data = read_bytes(path, root, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceProblem(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on this line): save the file "
                            "as UTF-8", line) from None


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MB" if n >= 1 << 20 else f"{n:,} bytes"
