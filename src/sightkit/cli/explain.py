"""``sightkit explain BUNDLE IMAGES... --out DIR``: heatmaps, raw maps, faithfulness, index.html."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status


def explain(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit)."),
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    out: Path = typer.Option(..., "--out", help="Folder for the overlays (PNG), maps (.npy) and index.html."),
    method: str = typer.Option("gradcam", help="gradcam|layercam|guided_gradcam|integrated_gradients|occlusion|saliency."),
    target: str = typer.Option("top", help="Class to explain: 'top' (the predicted one) or a class name."),
    layer: Optional[str] = typer.Option(None, help="Grad-CAM layer by module name [default: chosen for the model]."),
    baseline: str = typer.Option("black", help="Integrated gradients' reference image: black|mean|blur."),
    faithfulness: bool = typer.Option(True, "--faithfulness/--no-faithfulness",
                                      help="Score each map: deletion/insertion vs random order, sanity check."),
    curve_baseline: str = typer.Option("blur", help="Deletion turns pixels into it, insertion starts from it: "
                                                     "blur|mean|black; or impute (removed pixels filled from "
                                                     "the kept ones around them, as ROAD does)."),
    batch_size: int = typer.Option(32, min=1, help="Images per batch."),
    device: str = typer.Option("cpu", help="cpu|cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Explain predictions with heatmaps; writes overlays, raw maps and a browsable index.html."""
    from sightkit.explain.api import explain_images, summarize
    from sightkit.tasks.classify.predict import Predictor, expand_image_paths

    predictor = Predictor.from_bundle(bundle, device)
    paths = expand_image_paths(images)
    failed: list[str] = []

    def skip(message: str) -> None:
        failed.append(message)
        status(f"skipped {message}")

    with progress_bar(f"explaining ({method})", len(paths), enabled=not json_out) as advance:
        results = explain_images(predictor, paths, method, target=target, layer=layer, baseline=baseline,
                                 batch_size=batch_size, faithfulness=faithfulness, curve_baseline=curve_baseline,
                                 out_dir=out,
                                 on_error=skip, progress=advance)
    summary = summarize(results)
    if json_out:
        print_json({"summary": summary, "images": [r.to_dict() for r in results], "skipped": failed})
    else:
        _print_summary(summary)
        err_console.print(f"{len(results)} overlays in [bold]{out}[/bold]; browse {out / 'index.html'}")
    if failed:
        status(f"{len(failed)} of {len(paths)} images could not be read")
        raise typer.Exit(1)


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table("measure", "value", title="explanations")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    err_console.print(table)
