"""``sightkit enhance train|evaluate|upscale|models``: super-resolution with light and GAN models.

The inpainting commands (``train-inpaint``, ``inpaint``, ``evaluate-inpaint``) live in :mod:`.inpaint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sightkit.cli import inpaint as inpaint_commands
from sightkit.cli._options import DEVICES_HELP, NUM_NODES_HELP, STRATEGY_HELP, command_line, given_options
from sightkit.cli._output import print_json, progress_bar, status

app = typer.Typer(help="Super-resolution (upscaling) and inpainting (filling masked regions): train, evaluate, run.",
                  no_args_is_help=True)


# The options of `train` that are TrainConfig fields; their defaults below are TrainConfig's
# (literals, so that `sightkit --help` does not import pydantic; a test compares them).
_CONFIG_OPTIONS = ("scale", "arch", "color", "degradation", "patch", "batch_size", "steps", "epochs", "lr",
                   "gan_epochs", "gan_lr", "pixel_weight", "perceptual_weight", "adversarial_weight", "feature_net",
                   "feature_layer", "disc_features", "disc_warmup_steps", "val_fraction", "max_minutes", "seed",
                   "device", "devices", "num_nodes", "strategy")


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Folder of high-resolution images (searched recursively)."),
    scale: int = typer.Option(4, help="Upscaling factor: 2, 3 or 4."),
    arch: str = typer.Option("lightsr", help="Generator: lightsr, srresnet or rrdb."),
    features: Optional[int] = typer.Option(None, help="Generator width. \\[default: the architecture's]"),
    blocks: Optional[int] = typer.Option(None, help="Generator depth in blocks. \\[default: the architecture's]"),
    color: str = typer.Option("y", help="y (luma model, bicubic chroma) or rgb."),
    degradation: str = typer.Option("bicubic", help="bicubic, or real (blur, noise, JPEG)."),
    patch: int = typer.Option(96, help="HR crop side in px, a multiple of the scale."),
    batch_size: int = typer.Option(16, help="Crops per batch."),
    steps: int = typer.Option(500, help="Batches per epoch."),
    epochs: int = typer.Option(20, help="Stage 1 (L1) epochs; 0 with --init skips it."),
    lr: float = typer.Option(1e-3, help="Stage 1 peak learning rate."),
    gan_epochs: int = typer.Option(0, help="Stage 2 (adversarial) epochs; 0 skips it."),
    gan_lr: float = typer.Option(1e-4, help="Stage 2 learning rate of both networks."),
    pixel_weight: float = typer.Option(0.01, help="Stage 2 L1 weight."),
    perceptual_weight: float = typer.Option(1.0, help="Stage 2 feature-loss weight."),
    adversarial_weight: float = typer.Option(0.005, help="Stage 2 GAN-loss weight."),
    feature_net: str = typer.Option("random", help="Feature network of the stage 2 loss: random (works offline) "
                                                   "or a local VGG19 weight file."),
    feature_layer: str = typer.Option("conv5_4", help="VGG19 layer of the feature loss."),
    disc_features: int = typer.Option(32, help="Discriminator width."),
    disc_warmup_steps: int = typer.Option(100, help="Discriminator-only steps first."),
    val_fraction: float = typer.Option(0.1, help="Share of images held out; 0 = none."),
    init: Optional[Path] = typer.Option(None, help="Start from this enhance bundle's weights (e.g. for stage 2)."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/enhance-ARCH-xSCALE-DATA-DATE]"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint; "
                                                        "options given with it override the run's saved ones."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop each stage after this many minutes. "
                                                           "\\[default: no limit]"),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="Device: auto, cpu or cuda."),
    devices: int = typer.Option(1, help=DEVICES_HELP),
    num_nodes: int = typer.Option(1, help=NUM_NODES_HELP),
    strategy: str = typer.Option("auto", help=STRATEGY_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a super-resolution model: L1 stage, then optional adversarial stage; writes bundles."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.engine.distributed import is_launch_rank_zero
    from sightkit.tasks.enhance.api import Upscaler

    given = given_options(ctx, _CONFIG_OPTIONS)
    arch_args = {k: v for k, v in dict(features=features, blocks=blocks).items() if v is not None}
    if arch_args:
        given["arch_args"] = arch_args
    command = command_line(ctx)
    result = Upscaler.train(data, out=out, init=init, resume=resume, progress=progress, status=status,
                            command=command, **given)
    if not is_launch_rank_zero():  # another process of a DDP run: rank 0 prints the result
        return
    summary = {"bundles": {k: str(v) for k, v in result.bundles.items()}, **_headline(result.report)}
    if json_out:
        print_json(summary)
        return
    for kind, path in result.bundles.items():
        typer.echo(f"{kind} model bundle: {path}")
    if result.report:
        _print_metrics(result.report, "held-out images")


@app.command()
def evaluate(
    bundle: str = typer.Argument(..., help="An enhance bundle, or a shipped model (default-x4, gan-x2, ...)."),
    data: Path = typer.Argument(..., help="Folder of HR images; LR inputs are made by bicubic downscaling."),
    scale: Optional[int] = typer.Option(None, help="Expected scale; must match the model's."),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: runs/enhance-eval-MODEL-DATA]"),
    json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Y-PSNR / Y-SSIM (scale px border crop) beside bicubic, sharpness, and report.html with crops."""
    from sightkit.tasks.enhance.data import list_hr_images

    upscaler = _load(bundle, scale)
    paths = list_hr_images(data)
    out = out or Path("runs") / f"enhance-eval-{Path(bundle).stem}-{data.stem}"
    with progress_bar("evaluating", len(paths), enabled=not json_out) as advance:
        report = upscaler.evaluate(paths, out, progress=advance)
    for skipped in report["skipped"]:
        status(f"skipped {skipped['reason']}")
    if json_out:
        print_json(report)
        return
    _print_metrics(report, f"{bundle} on {data}")


@app.command()
def upscale(
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    out: Path = typer.Option(..., help="Output folder (created); names and formats follow the inputs."),
    scale: int = typer.Option(4, help="Upscaling factor (must match the model)."),
    model: str = typer.Option("default", help="default (PSNR-oriented), gan, or the path of an enhance bundle."),
    tile: int = typer.Option(512, min=16, help="Tile side in input px."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON record per image."),
) -> None:
    """Upscale images with tiled inference: keeps alpha, grayscale, EXIF; any size that fits in memory."""
    from sightkit.tasks.enhance.files import expand_image_paths
    from sightkit.tasks.enhance.shipped import KINDS, shipped_name

    name = shipped_name(model, scale) if model in KINDS else model
    upscaler = _load(name, scale)
    total = len(expand_image_paths(images))
    with progress_bar("upscaling", total, enabled=not json_out) as advance:
        results = upscaler.upscale_files(images, out, tile=tile, progress=advance)
    for r in results:
        for note in r.notes:
            status(f"{r.path}: {note}")
        if r.error is not None:
            status(r.error)  # the message names the file
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            if r.output is not None:
                typer.echo(f"{r.path} -> {r.output} ({r.output_size[0]}x{r.output_size[1]})")
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
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "value", title=title)
    for key, value in _headline(report).items():
        if key != "report_html":
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
    if "report_html" in report:
        typer.echo(f"report: {report['report_html']}")


inpaint_commands.register(app)  # after the super-resolution commands, so --help lists those first
