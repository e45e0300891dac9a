"""``sightkit enhance train|evaluate|upscale|models``: super-resolution with light and GAN models."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status

app = typer.Typer(help="Train, evaluate and run super-resolution (upscaling) models.", no_args_is_help=True)


@app.command()
def train(
    data: Path = typer.Argument(..., help="Folder of high-resolution images (searched recursively)."),
    scale: int = typer.Option(4, help="Upscaling factor: 2, 3 or 4."),
    arch: Optional[str] = typer.Option(None, help="lightsr|srresnet|rrdb [default: lightsr]."),
    features: Optional[int] = typer.Option(None, help="Generator width (architecture default if unset)."),
    blocks: Optional[int] = typer.Option(None, help="Generator depth in blocks (architecture default if unset)."),
    color: Optional[str] = typer.Option(None, help="y (luma model, bicubic chroma) | rgb [default: y]."),
    degradation: Optional[str] = typer.Option(None, help="bicubic | real (blur, noise, JPEG) [default: bicubic]."),
    patch: Optional[int] = typer.Option(None, help="HR crop side in px, a multiple of the scale [default: 96]."),
    batch_size: Optional[int] = typer.Option(None, help="Crops per batch [default: 16]."),
    steps: Optional[int] = typer.Option(None, help="Batches per epoch [default: 500]."),
    epochs: Optional[int] = typer.Option(None, help="Stage 1 (L1) epochs [default: 20]; 0 with --init skips it."),
    lr: Optional[float] = typer.Option(None, help="Stage 1 peak learning rate [default: 1e-3]."),
    gan_epochs: Optional[int] = typer.Option(None, help="Stage 2 (adversarial) epochs [default: 0 = none]."),
    gan_lr: Optional[float] = typer.Option(None, help="Stage 2 learning rate of both networks [default: 1e-4]."),
    pixel_weight: Optional[float] = typer.Option(None, help="Stage 2 L1 weight [default: 0.01]."),
    perceptual_weight: Optional[float] = typer.Option(None, help="Stage 2 feature-loss weight [default: 1]."),
    adversarial_weight: Optional[float] = typer.Option(None, help="Stage 2 GAN-loss weight [default: 0.005]."),
    feature_net: Optional[str] = typer.Option(None, help="'random' (offline default) or a local VGG19 weight file."),
    feature_layer: Optional[str] = typer.Option(None, help="VGG19 layer of the feature loss [default: conv5_4]."),
    disc_features: Optional[int] = typer.Option(None, help="Discriminator width [default: 32]."),
    disc_warmup_steps: Optional[int] = typer.Option(None, help="Discriminator-only steps first [default: 100]."),
    val_fraction: Optional[float] = typer.Option(None, help="Share of images held out [default: 0.1]; 0 = none."),
    init: Optional[Path] = typer.Option(None, help="Start from this enhance bundle's weights (e.g. for stage 2)."),
    out: Optional[Path] = typer.Option(None, help="Run folder [default: runs/enhance-ARCH-xSCALE-DATA-DATE]."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop each stage after this many minutes."),
    seed: Optional[int] = typer.Option(None, help="Random seed [default: 0]."),
    device: Optional[str] = typer.Option(None, help="auto|cpu|cuda [default: auto]."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a super-resolution model: L1 stage, then optional adversarial stage; writes bundles."""
    from sightkit.cli.classify import quiet_libraries

    quiet_libraries()
    from sightkit.tasks.enhance.api import Upscaler

    arch_args = {k: v for k, v in dict(features=features, blocks=blocks).items() if v is not None}
    given = {k: v for k, v in dict(
        scale=scale, arch=arch, color=color, degradation=degradation, patch=patch, batch_size=batch_size,
        steps=steps, epochs=epochs, lr=lr, gan_epochs=gan_epochs, gan_lr=gan_lr, pixel_weight=pixel_weight,
        perceptual_weight=perceptual_weight, adversarial_weight=adversarial_weight, feature_net=feature_net,
        feature_layer=feature_layer, disc_features=disc_features, disc_warmup_steps=disc_warmup_steps, val_fraction=val_fraction,
        max_minutes=max_minutes, seed=seed, device=device, arch_args=arch_args or None).items() if v is not None}
    command = "sightkit enhance train " + shlex.join(sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else [])
    result = Upscaler.train(data, out=out, init=init, resume=resume, progress=progress, status=status,
                            command=command, **given)
    summary = {"bundles": {k: str(v) for k, v in result.bundles.items()}, **_headline(result.report)}
    if json_out:
        print_json(summary)
        return
    for kind, path in result.bundles.items():
        err_console.print(f"{kind} model bundle: [bold]{path}[/bold]")
    if result.report:
        _print_metrics(result.report, "held-out images")


@app.command()
def evaluate(
    bundle: str = typer.Argument(..., help="An enhance bundle, or a shipped model (default-x4, gan-x2, ...)."),
    data: Path = typer.Argument(..., help="Folder of HR images; LR inputs are made by bicubic downscaling."),
    scale: Optional[int] = typer.Option(None, help="Expected scale; must match the model's."),
    out: Optional[Path] = typer.Option(None, help="Report folder [default: runs/enhance-eval-MODEL-DATA]."),
    json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Y-PSNR / Y-SSIM (scale px border crop) beside bicubic, sharpness, and report.html with crops."""
    from sightkit.tasks.enhance.api import Upscaler
    from sightkit.tasks.enhance.data import list_hr_images

    upscaler = _load(bundle, scale)
    paths = list_hr_images(data)
    out = out or Path("runs") / f"enhance-eval-{Path(bundle).stem}-{data.stem}"
    with progress_bar("evaluating", len(paths), enabled=not json_out) as advance:
        report = upscaler.evaluate(paths, out, progress=advance)
    if json_out:
        print_json(report)
        return
    _print_metrics(report, f"{bundle} on {data}")


@app.command()
def upscale(
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    out: Path = typer.Option(..., help="Output folder (created); names and formats follow the inputs."),
    scale: int = typer.Option(4, help="Upscaling factor (must match the model)."),
    model: str = typer.Option("default", help="default (PSNR) | gan | path of an enhance bundle."),
    tile: Optional[int] = typer.Option(None, min=16, help="Tile side in input px [default: 512]."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON record per image."),
) -> None:
    """Upscale images with tiled inference: keeps alpha, grayscale, EXIF; any size that fits in memory."""
    from sightkit.tasks.enhance.api import Upscaler
    from sightkit.tasks.enhance.files import expand_image_paths
    from sightkit.tasks.enhance.shipped import KINDS, shipped_name

    name = shipped_name(model, scale) if model in KINDS else model
    upscaler = _load(name, scale)
    total = len(expand_image_paths(images))
    with progress_bar("upscaling", total, enabled=not json_out) as advance:
        results = upscaler.upscale_files(images, out, tile=tile, progress=advance)
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            line = f"{r.path} -> {r.output} ({r.output_size[0]}x{r.output_size[1]})" if r.output else f"{r.path}: {r.error}"
            err_console.print(line + "".join(f"  [dim]{n}[/dim]" for n in r.notes))
    failed = sum(r.error is not None for r in results)
    if failed:
        status(f"{failed} of {len(results)} images could not be upscaled")
        raise typer.Exit(1)


@app.command()
def models() -> None:
    """List the architectures --arch accepts and the shipped models --model accepts."""
    from sightkit.tasks.enhance.model import GENERATORS
    from sightkit.tasks.enhance.shipped import shipped_models

    typer.echo("architectures: " + ", ".join(sorted(GENERATORS)))
    for name, path in shipped_models().items():
        typer.echo(f"{name}\t{path}")


def _load(name: str, scale: int | None):
    """Load a model by shipped name or path and check that it upscales by ``scale``."""
    from sightkit.errors import EnhanceError
    from sightkit.tasks.enhance.api import Upscaler

    upscaler = Upscaler.load(name)
    if scale is not None and scale != upscaler.scale:
        raise EnhanceError(f"--scale {scale}: model {name} upscales x{upscaler.scale}; "
                           f"pass --scale {upscaler.scale} or a model trained for x{scale}")
    return upscaler


def _headline(report: dict) -> dict:
    keys = ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "sharpness", "bicubic_sharpness",
            "hr_sharpness", "n", "scale", "report_html")
    return {k: report[k] for k in keys if k in report}


def _print_metrics(report: dict, title: str) -> None:
    from rich.table import Table

    table = Table("metric", "value", title=title)
    for key, value in _headline(report).items():
        if key != "report_html":
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    err_console.print(table)
    if "report_html" in report:
        err_console.print(f"report: {report['report_html']}")
