"""Output folders that a failed command removes again, so it leaves nothing half-made behind.

Example:
    >>> with removed_on_failure("runs/prune-x") as run_dir:  # doctest: +SKIP
    ...     train_into(run_dir)                               # an exception removes runs/prune-x
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def removed_on_failure(folder: str | Path) -> Iterator[Path]:
    """Create ``folder`` (and missing parents); if the block raises, remove what was created and re-raise.

    A folder that existed before is left in place (with whatever the block wrote into it), and
    so is everything after an interrupt (Ctrl-C): a training run can then be resumed.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> try:
        ...     with removed_on_failure(root / "a" / "b"):
        ...         raise ValueError("failed")
        ... except ValueError:
        ...     pass
        >>> (root / "a").exists()
        False
    """
    folder = Path(folder)
    created = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except Exception:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
