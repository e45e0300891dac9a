"""``sightkit explain BUNDLE IMAGES... --out DIR``: heatmaps, raw maps, faithfulness, index.html."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import print_json, progress_bar, status
from sightkit.errors import ConfigError
from sightkit.explain.choices import BASELINES, CURVE_BASELINES, DEVICES, METHODS, check_choice, check_device


def explain(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit)."),
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    out: Path = typer.Option(..., "--out", help="Folder for the overlays (PNG), maps (.npy) and index.html; "
                                                "created only when there is something to write."),
    method: str = typer.Option("gradcam", help=f"Attribution method, one of: {', '.join(METHODS)}."),
    target: str = typer.Option("top", help="Class to explain: 'top' (the predicted one) or a class name."),
    layer: Optional[str] = typer.Option(None, help="Grad-CAM layer by module name. \\[default: chosen for the model]"),
    baseline: str = typer.Option("black", help=f"Integrated gradients' reference image: {', '.join(BASELINES)}."),
    faithfulness: bool = typer.Option(True, "--faithfulness/--no-faithfulness",
                                      help="Score each map: deletion and insertion against random orders, "
                                           "and a sanity check."),
    curve_baseline: str = typer.Option("blur", help=f"Deletion turns pixels into it, insertion starts from it: "
                                                     f"{', '.join(CURVE_BASELINES)} (impute: removed pixels "
                                                     "filled from the kept ones around them, as ROAD does)."),
    batch_size: int = typer.Option(32, help="Images per batch (at least 1)."),
    device: str = typer.Option("cpu", help=f"Where to compute: {', '.join(DEVICES)}."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Explain predictions with heatmaps; writes overlays, raw maps and a browsable index.html."""
    from sightkit.explain.api import Explainer, summarize, write_explanations
    from sightkit.tasks.classify.predict import Predictor, expand_image_paths

    check_choice(method, METHODS, "--method")
    check_choice(baseline, BASELINES, "--baseline")
    check_choice(curve_baseline, CURVE_BASELINES, "--curve-baseline")
    check_device(device)
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: must be at least 1")
    explainer = Explainer(Predictor.from_bundle(bundle, device), method, layer=layer, baseline=baseline,
                          curve_baseline=curve_baseline)
    explainer.target_index(target)
    paths = expand_image_paths(images)
    skipped: list[str] = []
    with progress_bar(f"explaining ({method})", len(paths), enabled=not json_out) as advance:
        results = explainer.explain_sources(paths, target, batch_size=batch_size, faithfulness=faithfulness,
                                            on_error=skipped.append, progress=advance)
    index = write_explanations(out, results)
    for message in skipped:
        status(f"skipped {message}")
    summary = summarize(results)
    if json_out:
        print_json({"summary": summary, "images": [r.to_dict() for r in results], "skipped": skipped,
                    "index": str(index)})
    else:
        _print_summary(summary)
        typer.echo(f"{len(results)} overlays in {out}; browse {index}")
    if skipped:
        status(f"{len(skipped)} of {len(paths)} images could not be read")
        raise typer.Exit(1)


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("measure", "value", title="explanations")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
