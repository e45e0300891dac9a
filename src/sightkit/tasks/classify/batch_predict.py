"""Predict many images into one results file (Parquet, CSV or JSON lines), resumable after a kill.

The sorted inputs are cut into chunks of ``chunk_rows``; each finished chunk is written as a
part file (atomically: temp file, then rename) in a ``.<out>.parts/`` folder beside the output,
so a part is either whole or absent. A rerun with the same inputs, bundle and options skips
the chunks that have a part and predicts the rest; when every chunk has its part they are
merged into ``out`` (atomically again; one Parquet row group per chunk) and the parts folder is
removed. So after any number of kills and reruns the output holds every input exactly once, in
input order. Decoding runs in DataLoader workers (:meth:`Predictor.iter_logits`).

Example:
    >>> predictor = Predictor.from_bundle("runs/x/model")  # doctest: +SKIP
    >>> job = BatchPrediction(predictor, expand_image_paths(["photos/"]), Path("results.parquet"))  # doctest: +SKIP
    >>> job.run(progress=advance).rows  # doctest: +SKIP
    120000
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sightkit.core.fileio import atomic_write_text
from sightkit.errors import ConfigError
from sightkit.tasks.classify.predict import UNKNOWN, Prediction, Predictor

FORMATS = (".parquet", ".csv", ".jsonl")
DEFAULT_CHUNK_ROWS = 4096
_JOB_FILE = "job.json"


@dataclass
class BatchSummary:
    """What :func:`predict_to_file` did: rows written, errors, chunks skipped as already done, speed."""

    out: str
    rows: int
    errors: int
    chunks: int
    skipped_chunks: int
    predicted: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        """Images predicted per second in this call (chunks done before are not counted)."""
        return self.predicted / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with ``images_per_s``."""
        return {**asdict(self), "images_per_s": round(self.images_per_s, 1)}


def parts_folder(out: Path) -> Path:
    """Where the finished chunks of ``out`` wait until the last one is done: ``.<name>.parts`` beside it."""
    return out.with_name(f".{out.name}.parts")


class BatchPrediction:
    """A resumable prediction of ``sources`` into ``out``: what is left is known before it runs.

    Creating it checks the options, and creates (or, on a rerun, checks) the parts folder:
    a parts folder left by a run with other inputs, bundle or options is refused, since its
    parts would not match. A finished ``out`` is refused unless ``overwrite``.

    Example:
        >>> job = BatchPrediction(predictor, paths, Path("results.parquet"))  # doctest: +SKIP
        >>> job.remaining, job.skipped_chunks  # doctest: +SKIP
        (8192, 3)
        >>> job.run(progress=print).rows  # doctest: +SKIP
    """

    def __init__(self, predictor: Predictor, sources: Sequence[str | Path], out: Path, *, top_k: int = 5,
                 min_confidence: float = 0.0, chunk_rows: int = DEFAULT_CHUNK_ROWS, overwrite: bool = False,
                 tta: bool = False) -> None:
        self.suffix = out.suffix.lower()
        if self.suffix not in FORMATS:
            raise ConfigError(f"--out {out}: the results file must end in {', '.join(FORMATS)}")
        if chunk_rows < 1:
            raise ConfigError(f"--chunk-rows {chunk_rows}: must be at least 1")
        self.parts = parts_folder(out)
        if out.exists() and not self.parts.exists() and not overwrite:
            raise ConfigError(f"--out {out} already exists (a finished run); delete it, choose another file or "
                              "pass --overwrite")
        self.predictor, self.out, self.top_k, self.min_confidence = predictor, out, top_k, min_confidence
        self.tta = tta  # test-time augmentation; part of the job, so a resumed run cannot mix the two
        self.paths = [str(s) for s in sources]
        self.chunks = [(start, min(start + chunk_rows, len(self.paths)))
                       for start in range(0, len(self.paths), chunk_rows)]
        _open_job(self.parts, _fingerprint(predictor, self.paths, top_k, min_confidence, chunk_rows, self.suffix, tta))
        self.todo = [i for i in range(len(self.chunks)) if not _part_path(self.parts, i, self.suffix).is_file()]

    @property
    def skipped_chunks(self) -> int:
        """Chunks a previous run finished; they are not predicted again."""
        return len(self.chunks) - len(self.todo)

    @property
    def remaining(self) -> int:
        """Images this run will predict."""
        return sum(self.chunks[i][1] - self.chunks[i][0] for i in self.todo)

    def run(self, batch_size: int = 64, workers: int | None = None,
            progress: Callable[[int], None] | None = None) -> BatchSummary:
        """Predict the remaining chunks, then merge all parts into ``out``.

        ``progress(n)`` is called after each batch with the number of images it held.
        Unreadable images get a row whose ``error`` is set.
        """
        writer = _WRITERS[self.suffix]
        clock, predicted = time.perf_counter(), 0
        for index, rows in _predict_chunks(self.predictor, self.paths, self.chunks, self.todo, self.top_k,
                                           self.min_confidence, batch_size, workers, progress, self.tta):
            with _atomic_path(_part_path(self.parts, index, self.suffix)) as tmp:
                writer.write(rows, tmp)
            predicted += len(rows)
        seconds = time.perf_counter() - clock
        with _atomic_path(self.out) as tmp:
            writer.merge([_part_path(self.parts, i, self.suffix) for i in range(len(self.chunks))], tmp)
        errors = writer.count_errors(self.out)
        shutil.rmtree(self.parts)
        return BatchSummary(str(self.out), len(self.paths), errors, len(self.chunks), self.skipped_chunks, predicted,
                            seconds)


def predict_to_file(predictor: Predictor, sources: Sequence[str | Path], out: Path, *, top_k: int = 5,
                    min_confidence: float = 0.0, batch_size: int = 64, workers: int | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS, overwrite: bool = False,
                    progress: Callable[[int], None] | None = None) -> BatchSummary:
    """Predict every file of ``sources`` into ``out`` (``.parquet``, ``.csv`` or ``.jsonl``), resuming a killed run.

    The one-call form of :class:`BatchPrediction`.

    Example:
        >>> s = predict_to_file(predictor, paths, Path("out.parquet"), chunk_rows=1000)  # doctest: +SKIP
        >>> s.rows == len(paths)  # doctest: +SKIP
        True
    """
    job = BatchPrediction(predictor, sources, out, top_k=top_k, min_confidence=min_confidence, chunk_rows=chunk_rows,
                          overwrite=overwrite)
    return job.run(batch_size, workers, progress)


def _predict_chunks(predictor: Predictor, paths: list[str], chunks: list[tuple[int, int]], todo: list[int],
                    top_k: int, min_confidence: float, batch_size: int, workers: int | None,
                    progress: Callable[[int], None] | None, tta: bool = False,
                    ) -> Iterator[tuple[int, list[Prediction]]]:
    """Yield ``(chunk index, its predictions in input order)`` for the ``todo`` chunks, streaming one loader over them."""
    wanted = [i for chunk in todo for i in range(*chunks[chunk])]
    results: dict[int, Prediction] = {}
    pending = iter(todo)
    current = next(pending, None)
    for indices, logits, errors in predictor.iter_logits([paths[i] for i in wanted], batch_size, workers, tta):
        for local, message in errors:
            results[wanted[local]] = Prediction(paths[wanted[local]], UNKNOWN, 0.0, [], error=message)
        if indices:
            labelled = predictor.label(logits, [paths[wanted[local]] for local in indices], top_k, min_confidence)
            results.update(zip((wanted[local] for local in indices), labelled))
        if progress is not None:
            progress(len(indices) + len(errors))
        while current is not None and all(i in results for i in range(*chunks[current])):
            yield current, [results.pop(i) for i in range(*chunks[current])]
            current = next(pending, None)


def _fingerprint(predictor: Predictor, paths: list[str], top_k: int, min_confidence: float, chunk_rows: int,
                 suffix: str, tta: bool = False) -> dict[str, object]:
    digest = hashlib.sha256("\n".join(paths).encode()).hexdigest()
    model = hashlib.sha256(json.dumps(predictor.meta, sort_keys=True, default=str).encode()).hexdigest()
    return {"inputs": len(paths), "inputs_sha256": digest, "bundle_sha256": model, "top_k": top_k,
            "min_confidence": min_confidence, "chunk_rows": chunk_rows, "format": suffix, "tta": tta}


def _open_job(parts: Path, job: dict[str, object]) -> None:
    """Create the parts folder with its job description, or check that the existing one is the same job."""
    job_file = parts / _JOB_FILE
    if job_file.is_file():
        saved = json.loads(job_file.read_text())
        if saved != job:
            changed = ", ".join(k for k in job if saved.get(k) != job[k])
            raise ConfigError(f"{parts} holds the parts of a run with other {changed}; rerun with the same inputs "
                              f"and options to resume it, or delete {parts} to start again")
        return
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(job_file, json.dumps(job, indent=2))


def _part_path(parts: Path, index: int, suffix: str) -> Path:
    return parts / f"part-{index:06d}{suffix}"


@contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block succeeds, and is removed when it fails."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class _Parquet:
    """One row group per chunk; top-k as two list columns."""

    @staticmethod
    def schema():  # noqa: ANN205  (pyarrow is imported only when Parquet is written)
        import pyarrow as pa

        return pa.schema([("path", pa.string()), ("label", pa.string()), ("score", pa.float32()),
                          ("topk_labels", pa.list_(pa.string())), ("topk_scores", pa.list_(pa.float32())),
                          ("error", pa.string())])

    def write(self, rows: list[Prediction], path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {"path": [r.path for r in rows], "label": [r.label for r in rows],
                   "score": [r.score for r in rows], "topk_labels": [[label for label, _ in r.topk] for r in rows],
                   "topk_scores": [[score for _, score in r.topk] for r in rows], "error": [r.error for r in rows]}
        pq.write_table(pa.table(columns, schema=self.schema()), path)

    def merge(self, parts: list[Path], path: Path) -> None:
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, self.schema()) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part, schema=self.schema()))

    def count_errors(self, path: Path) -> int:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        return int(pc.sum(pc.is_valid(pq.read_table(path, columns=["error"])["error"])).as_py() or 0)


class _Text:
    """CSV (header once, top-k as ``label:score;...``) or JSON lines (one :meth:`Prediction.to_dict` per line)."""

    def __init__(self, csv: bool) -> None:
        self.csv = csv

    def write(self, rows: list[Prediction], path: Path) -> None:
        import csv
        import io

        buffer = io.StringIO()
        if self.csv:
            writer = csv.writer(buffer)
            for r in rows:
                writer.writerow([r.path, r.label, f"{r.score:.6f}", ";".join(f"{l}:{s:.6f}" for l, s in r.topk),
                                 r.error or ""])
        else:
            buffer.writelines(json.dumps(r.to_dict()) + "\n" for r in rows)
        path.write_text(buffer.getvalue(), encoding="utf-8")

    def merge(self, parts: list[Path], path: Path) -> None:
        with open(path, "wb") as handle:
            if self.csv:
                handle.write(b"path,label,score,topk,error\r\n")
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, handle)

    def count_errors(self, path: Path) -> int:
        import csv

        with open(path, newline="", encoding="utf-8") as handle:
            if self.csv:
                return sum(1 for row in csv.DictReader(handle) if row["error"])
            return sum(1 for line in handle if "error" in json.loads(line))


_WRITERS = {".parquet": _Parquet(), ".csv": _Text(csv=True), ".jsonl": _Text(csv=False)}
