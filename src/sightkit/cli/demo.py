"""``sightkit demo``: train, evaluate and run a CNN on real handwritten digits, in about a minute."""

from __future__ import annotations

from pathlib import Path

import typer

from sightkit.cli._output import status

DEMO_EPOCHS = 30
DEMO_DIR = Path("runs") / "demo"


def demo(
    out: Path = typer.Option(DEMO_DIR, help="Folder for the data, the run and the report."),
    epochs: int = typer.Option(DEMO_EPOCHS, min=1, help="Training epochs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train the built-in CNN on scikit-learn's digits (1,797 real scans), evaluate, predict."""
    import time

    from rich.console import Console
    from rich.table import Table

    from sightkit.data.samples import export_digits
    from sightkit.tasks.classify.api import Classifier

    start = time.perf_counter()
    status(f"writing everything under {out}/")
    data = export_digits(out / "digits")
    status(f"data: scikit-learn digits written as PNG folders under {data} (train/ 80%, test/ 20%)")
    clf = Classifier.train(data, "skcnn_small", out=out / "run", epochs=epochs, hflip=False,
                           progress=progress, status=status)
    report = clf.report or {}
    samples = sorted((data / "test").glob("*/*.png"))[::36][:8]
    table = Table("image", "true", "predicted", "score", title="predictions on held-out test digits")
    for prediction, path in zip(clf.predict(samples, top_k=3), samples):
        table.add_row(str(path.relative_to(data / "test")), path.parent.name, prediction.label,
                      f"{prediction.score:.3f}")
    console = Console()
    console.print(table)
    console.print(
        f"test accuracy {report.get('accuracy', 0):.2%} on the {report.get('n', 0)} held-out test digits, "
        f"macro-F1 {report.get('macro_f1', 0):.4f}\nECE {report.get('ece', 0):.4f} (before temperature scaling "
        f"{report.get('ece_uncalibrated', 0):.4f}); trained and evaluated in {time.perf_counter() - start:.0f} s\n"
        f"model bundle: {clf.path}\nreport: {report.get('report_html')}", highlight=False)
    status(f"next: sightkit classify predict {clf.path} {data / 'test'} --top-k 3")
