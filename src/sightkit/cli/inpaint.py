"""``sightkit enhance train-inpaint|inpaint|evaluate-inpaint``: fill masked regions with a GAN-trained model.

Registered on the ``enhance`` command group by :func:`register`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._options import DEVICES_HELP, NUM_NODES_HELP, STRATEGY_HELP, command_line, given_options
from sightkit.cli._output import print_json, progress_bar, status

# The options of `train-inpaint` that are InpaintConfig fields; their defaults below are
# InpaintConfig's (literals, so that `sightkit --help` does not import pydantic; a test compares them).
_CONFIG_OPTIONS = ("width", "patch", "batch_size", "steps", "epochs", "lr", "max_ratio", "scale_range", "val_fraction",
                   "gan_epochs", "gan_lr", "adversarial_weight", "disc_warmup_steps", "max_minutes", "seed", "device",
                   "devices", "num_nodes", "strategy")
_IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF"}


def train_inpaint(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Folder of images (searched recursively); masks are drawn at random."),
    width: int = typer.Option(24, help="Generator width (channels of its first stage)."),
    patch: int = typer.Option(64, help="Training crop side in px, a multiple of 4."),
    batch_size: int = typer.Option(16, help="Crops per batch."),
    steps: int = typer.Option(200, help="Batches per epoch."),
    epochs: int = typer.Option(10, help="Stage 1 (L1) epochs; 0 with --init skips it."),
    lr: float = typer.Option(1e-3, help="Stage 1 peak learning rate."),
    max_ratio: float = typer.Option(0.45, help="Largest hole ratio the mask curriculum reaches."),
    scale_range: tuple[float, float] = typer.Option((1.0, 3.0), help="Crops come from the image shrunk so its "
                                                                     "shorter side is this many crops (min max)."),
    val_fraction: float = typer.Option(0.1, help="Share of images held out; 0 = none."),
    gan_epochs: int = typer.Option(0, help="Stage 2 (adversarial, hinge loss) epochs; 0 skips it."),
    gan_lr: float = typer.Option(2e-4, help="Stage 2 learning rate of both networks."),
    adversarial_weight: float = typer.Option(0.01, help="Stage 2 GAN-loss weight (beside the L1 loss)."),
    disc_warmup_steps: int = typer.Option(100, help="Discriminator-only steps first."),
    init: Optional[Path] = typer.Option(None, help="Start from this inpaint bundle's weights (e.g. for stage 2)."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/inpaint-DATA-DATE]"),
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
    """Train an inpainting model: gated-convolution generator, L1 stage, then optional PatchGAN stage."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.engine.distributed import is_launch_rank_zero
    from sightkit.tasks.enhance.inpaint.api import Inpainter

    given = given_options(ctx, _CONFIG_OPTIONS)
    command = command_line(ctx)
    result = Inpainter.train(data, out=out, init=init, resume=resume, progress=progress, status=status,
                             command=command, **given)
    if not is_launch_rank_zero():  # another process of a DDP run: rank 0 prints the result
        return
    training = result.meta.get("training", {})
    summary = {"bundles": {k: str(v) for k, v in result.bundles.items()},
               **{k: training[k] for k in ("best_val_hole_psnr", "last_val_hole_psnr", "minutes") if k in training}}
    if json_out:
        print_json(summary)
        return
    for kind, path in result.bundles.items():
        typer.echo(f"{kind} model bundle: {path}")
    for key in ("best_val_hole_psnr", "last_val_hole_psnr"):
        if summary.get(key) is not None:
            typer.echo(f"{key}: {summary[key]:.2f} dB (held-out images, 20-30% holes)")


def inpaint(
    image: Path = typer.Argument(..., help="The image to repair."),
    out: Path = typer.Option(..., help="Output file (format from its extension: png, jpg, webp, bmp, tif)."),
    mask: Optional[Path] = typer.Option(None, help="Mask image of the same size: white (>= 50%) = fill, black = keep."),
    box: Optional[str] = typer.Option(None, help="Fill this rectangle instead of a mask: x,y,width,height in px."),
    model: str = typer.Option("general", help="general, face, or the path of an inpaint bundle."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON record."),
) -> None:
    """Fill the masked pixels of an image; every pixel outside the mask is returned unchanged."""
    from sightkit.core.fileio import atomic_write_bytes
    from sightkit.core.images import load_image
    from sightkit.errors import ConfigError
    from sightkit.tasks.enhance.inpaint.api import Inpainter, box_mask

    if (mask is None) == (box is None):
        raise ConfigError("give exactly one of --mask MASK.png or --box x,y,width,height")
    fmt = _IMAGE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f"--out {out}: use one of {', '.join(sorted(_IMAGE_FORMATS))}")
    picture = load_image(image)
    if box is not None:
        try:
            x, y, w, h = (int(v) for v in box.split(","))
        except ValueError:
            raise ConfigError(f"--box {box!r}: give x,y,width,height as four whole numbers") from None
        holes = box_mask(picture.size, (x, y, w, h))
    else:
        holes = load_image(mask)
    inpainter = Inpainter.load(model)
    notes: list[str] = []
    result = inpainter.inpaint(picture, holes, note=notes.append)
    for note in notes:
        status(note)
    if fmt == "JPEG" and result.mode not in ("RGB", "L"):
        result = result.convert("RGB")
    buffer = io.BytesIO()
    result.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    atomic_write_bytes(out, buffer.getvalue())
    record = {"image": str(image), "output": str(out), "size": list(result.size), "model": str(inpainter.path),
              "notes": notes}
    if json_out:
        print_json(record)
    else:
        typer.echo(f"{image} -> {out} ({result.size[0]}x{result.size[1]})")


def evaluate_inpaint(
    bundle: str = typer.Argument(..., help="An inpaint bundle, or a shipped model (general, face)."),
    data: Path = typer.Argument(..., help="Folder of images; holes are drawn at random (seeded)."),
    max_side: int = typer.Option(256, min=16, help="Images are shrunk so the longer side is at most this."),
    seed: int = typer.Option(0, help="Seed of the masks."),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: runs/inpaint-eval-MODEL-DATA]"),
    json_out: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """In-hole PSNR / SSIM / L1 at 10-20, 20-30, 30-40% masks beside OpenCV Telea and Navier-Stokes; report.html."""
    from sightkit.tasks.enhance.data import list_hr_images
    from sightkit.tasks.enhance.inpaint.api import Inpainter

    inpainter = Inpainter.load(bundle)
    paths = list_hr_images(data, "FOLDER")
    out = out or Path("runs") / f"inpaint-eval-{Path(bundle).stem}-{data.stem}"
    with progress_bar("evaluating", len(paths), enabled=not json_out) as advance:
        report = inpainter.evaluate(paths, out, max_side=max_side, seed=seed, progress=advance)
    for skipped in report["skipped"]:
        status(f"skipped {skipped['reason']}")
    if json_out:
        print_json({k: v for k, v in report.items() if k != "per_image"})
        return
    _print_buckets(report, f"{bundle} on {data} ({report['n']} images)")


def _print_buckets(report: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("holes", "method", "PSNR dB", "SSIM", "L1", title=title)
    for bucket, methods in report["buckets"].items():
        for method, values in methods.items():
            table.add_row(bucket, method, f"{values['psnr']:.2f}", f"{values['ssim']:.3f}", f"{values['l1']:.4f}")
    Console().print(table)
    typer.echo(f"report: {report['report_html']}")


def register(app: typer.Typer) -> None:
    """Add the inpainting commands to the ``enhance`` group."""
    app.command("train-inpaint")(train_inpaint)
    app.command("inpaint")(inpaint)
    app.command("evaluate-inpaint")(evaluate_inpaint)
