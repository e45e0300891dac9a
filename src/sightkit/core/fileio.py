"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each write goes to a temporary file in the target's own folder (so the final rename
stays on one file system), is flushed and fsynced, and then replaces the target with
:func:`os.replace`. If anything fails, the temporary file is removed and the previous
target, if there was one, is left untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

# Mode of a newly created file; mkstemp alone would give 0o600, which hides reports from
# other users and web servers. An existing target keeps its own mode.
_NEW_FILE_MODE = 0o644


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The parent folder must exist. An existing file keeps its permission bits; a new one
    gets ``0o644``.

    Example:
        >>> p = atomic_write_bytes(tmp_path / "weights.bin", b"\\x00\\x01")  # doctest: +SKIP
        >>> p.read_bytes()                                                    # doctest: +SKIP
        b'\\x00\\x01'
    """
    target = Path(path)
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else _NEW_FILE_MODE
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (encoded with ``encoding``) and return the path.

    Example:
        >>> atomic_write_text(tmp_path / "report.json", '{"accuracy": 0.9}')  # doctest: +SKIP
        PosixPath('.../report.json')
    """
    return atomic_write_bytes(path, text.encode(encoding))
