"""Write image embeddings to disk: ``.npy`` with the row order in ``<name>.paths.txt``, or ``.parquet``.

A ``.npy`` file holds a float32 ``(N, D)`` array (read it with ``numpy.load``, no pickle) and the
text file beside it names the image of each row, one path a line. A ``.parquet`` file (needs
pyarrow) holds the columns ``path`` and ``embedding`` (a fixed-size list of float32).

Example:
    >>> save_embeddings("emb.npy", clf.embed(paths), paths)  # doctest: +SKIP
    [PosixPath('emb.npy'), PosixPath('emb.paths.txt')]
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sightkit.core.fileio import atomic_write_bytes, atomic_write_text
from sightkit.errors import ConfigError

FORMATS = (".npy", ".parquet")


def paths_file(out: str | Path) -> Path:
    """The row-order file written beside a ``.npy`` file: ``emb.npy`` -> ``emb.paths.txt``.

    Example:
        >>> paths_file("runs/emb.npy").as_posix()
        'runs/emb.paths.txt'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}.paths.txt")


def check_output(out: str | Path) -> Path:
    """Refuse an output path sightkit cannot write, before any work: unknown suffix or missing pyarrow."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out {out}: use a .npy or .parquet file name")
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(f"--out {out}: .parquet needs pyarrow (pip install pyarrow); or write .npy") from None
    return out


def save_embeddings(out: str | Path, embeddings: np.ndarray, paths: Sequence[str | Path]) -> list[Path]:
    """Write ``embeddings`` (one row per entry of ``paths``) atomically; returns the files written."""
    out = check_output(out)
    if len(embeddings) != len(paths):
        raise ConfigError(f"{len(embeddings)} embeddings but {len(paths)} paths; give one path per row")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = np.ascontiguousarray(embeddings, dtype=np.float32)
    if out.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, rows, allow_pickle=False)
        atomic_write_bytes(out, buffer.getvalue())
        names = atomic_write_text(paths_file(out), "".join(f"{p}\n" for p in paths))
        return [out, names]
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])
    table = pa.table({"path": pa.array([str(p) for p in paths]), "embedding": column})
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return [atomic_write_bytes(out, buffer.getvalue().to_pybytes())]
