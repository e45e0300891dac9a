"""``sightkit classify predict ... --out FILE``: resumable batch prediction into a results file.

Progress (images/s and ETA) and notes go to stderr; the summary goes to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sightkit.cli._output import err_console, print_json, status
from sightkit.errors import ConfigError

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier


def predict_into_file(clf: Classifier, paths: list[Path], out: Path, *, top_k: int, min_confidence: float,
                      batch_size: int, workers: int | None, chunk_rows: int, overwrite: bool, json_out: bool,
                      explain: bool, tta: bool = False) -> None:
    """Run a :class:`~sightkit.tasks.classify.batch_predict.BatchPrediction` with a progress bar; exit 1 on unreadable images.

    Example:
        >>> predict_into_file(clf, paths, Path("results.parquet"), top_k=5, min_confidence=0.0,  # doctest: +SKIP
        ...                   batch_size=64, workers=None, chunk_rows=4096, overwrite=False, json_out=False,
        ...                   explain=False)
    """
    from sightkit.cli._output import progress_bar
    from sightkit.tasks.classify.batch_predict import BatchPrediction

    if explain:
        raise ConfigError("--explain cannot be used with --out; run 'sightkit explain' on the images of interest")
    job = BatchPrediction(clf.predictor, paths, out, top_k=top_k, min_confidence=min_confidence, chunk_rows=chunk_rows,
                          overwrite=overwrite, tta=tta)
    if job.skipped_chunks:
        status(f"resuming {out}: {job.skipped_chunks} of {len(job.chunks)} chunks were done before, "
               f"{job.remaining} images left")
    with progress_bar("predicting", job.remaining, enabled=err_console.is_terminal) as advance:
        summary = job.run(batch_size, workers, progress=advance)
    if json_out:
        print_json(summary.to_dict())
    else:
        typer.echo(f"{summary.rows} predictions in {summary.out} ({summary.predicted} predicted now at "
                   f"{summary.images_per_s:,.0f} img/s, {summary.rows - summary.predicted} from the earlier run)")
    if summary.errors:
        status(f"{summary.errors} of {summary.rows} images could not be read; their rows have 'error' set")
        raise typer.Exit(1)
