"""``sightkit generate train|sample|evaluate``: synthesise images with a DCGAN or a class-conditional GAN."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._options import (DEVICES_HELP, NUM_NODES_HELP, STRATEGY_HELP, SYNC_BATCHNORM_HELP, command_line,
                                   given_options)
from sightkit.cli._output import print_json, progress_bar, status

app = typer.Typer(help="Train GANs that synthesise images (per class or not), sample and evaluate them.",
                  no_args_is_help=True)

# The options of `train` that are TrainConfig fields; their defaults below are TrainConfig's
# (literals, so that `sightkit --help` does not import pydantic; a test compares them).
_CONFIG_OPTIONS = ("conditional", "size", "z_dim", "width", "disc_width", "batch_size", "epochs", "lr_g", "lr_d",
                   "ema_decay", "mode_seeking", "diffaugment", "collapse_ratio", "max_minutes", "seed", "device", "devices", "num_nodes", "strategy",
                   "sync_batchnorm")
_DATA_HELP = "Folder of class subfolders (or of images, for --unconditional), or 'digits' (scikit-learn digits)."


@app.command()
def train(
    ctx: typer.Context,
    data: str = typer.Argument(..., metavar="DATA", help=_DATA_HELP),
    conditional: bool = typer.Option(True, "--conditional/--unconditional",
                                     help="Class-conditional GAN (projection discriminator) or plain DCGAN."),
    size: int = typer.Option(32, help="Image side in px: 32 or 64."),
    epochs: int = typer.Option(30, help="Epochs (passes over the images); with --resume, the new total."),
    batch_size: int = typer.Option(64, help="Images per batch."),
    z_dim: int = typer.Option(128, help="Length of the noise vector."),
    width: int = typer.Option(32, help="Generator width."),
    disc_width: int = typer.Option(32, help="Discriminator width."),
    lr_g: float = typer.Option(2e-4, help="Generator learning rate."),
    lr_d: float = typer.Option(2e-4, help="Discriminator learning rate."),
    ema_decay: float = typer.Option(0.999, help="Decay of the generator's moving average (the saved "
                                                "weights); 0 saves the raw generator."),
    mode_seeking: float = typer.Option(0.0, help="Weight of the mode-seeking loss (more varied samples within a "
                                                 "class); 0 turns it off."),
    diffaugment: str = typer.Option("none", help="DiffAugment policy for the discriminator's inputs, real and "
                                                 "fake alike: comma-separated translation, cutout, color; "
                                                 "none turns it off."),
    collapse_ratio: float = typer.Option(0.5, help="Warn when samples are less diverse than this share of the "
                                                   "real images."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/generate-ARCH-SIZEpx-DATA-DATE]"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint; "
                                                        "options given with it override the saved ones."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop after this many minutes. \\[default: no limit]"),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help="Device: auto, cpu or cuda."),
    devices: int = typer.Option(1, help=DEVICES_HELP),
    num_nodes: int = typer.Option(1, help=NUM_NODES_HELP),
    strategy: str = typer.Option("auto", help=STRATEGY_HELP),
    sync_batchnorm: bool = typer.Option(False, "--sync-batchnorm", help=SYNC_BATCHNORM_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Train a GAN; writes sample grids per epoch, checkpoints and the model bundle (EMA generator)."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.engine.distributed import is_launch_rank_zero
    from sightkit.tasks.generate.api import Generator

    given = given_options(ctx, _CONFIG_OPTIONS)
    gen = Generator.train(data, out=out, resume=resume, progress=progress and not json_out, status=status,
                          command=command_line(ctx, [data]), **given)
    if not is_launch_rank_zero():  # another process of a DDP run: rank 0 prints the result
        return
    training = gen.meta["training"]
    summary = {"bundle": str(gen.path), "samples": str(Path(gen.path).parent / "samples"),
               "epochs_run": training["epochs_run"], "steps_run": training["steps_run"],
               "stopped": training["stopped"], "diversity": training["diversity"],
               "collapse_warnings": training["collapse_warnings"]}
    if json_out:
        print_json(summary)
        return
    typer.echo(f"model bundle: {summary['bundle']}\nsample grids: {summary['samples']}")


@app.command()
def sample(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A generate bundle (folder or .sightkit)."),
    n: int = typer.Option(64, "-n", help="Number of images."),
    class_name: Optional[str] = typer.Option(None, "--class", help="Class to generate (conditional models). "
                                                                   "\\[default: every class in turn]"),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same images."),
    out: Path = typer.Option(..., help="Output folder for the PNGs and grid.png (created)."),
    json_out: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Generate N images as PNG files plus grid.png; a bad option writes nothing."""
    from sightkit.tasks.generate.api import Generator

    gen = Generator.load(bundle)
    gen.sampler.labels_for(n, class_name)  # check -n and --class before the progress bar
    with progress_bar("sampling", n, enabled=not json_out) as advance:
        paths = gen.sample_files(n, out, class_name=class_name, seed=seed, progress=advance)
    if json_out:
        print_json({"images": [str(p) for p in paths], "grid": str(Path(out) / "grid.png")})
        return
    typer.echo(f"{len(paths)} images in {out} (grid: {Path(out) / 'grid.png'})")


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A generate bundle (folder or .sightkit)."),
    data: str = typer.Argument(..., metavar="DATA", help="Real images of the same domain: a folder (its test/ "
                                                         "or val/ if present) or 'digits-test'."),
    features: Optional[Path] = typer.Option(None, help="Classify bundle whose features FID/KID use. \\[default: "
                                                       "train a small classifier on DATA's training images]"),
    n: Optional[int] = typer.Option(None, "-n", min=2, help="Generated images to compare. \\[default: "
                                                                   "half the real images]"),
    per_class: int = typer.Option(100, min=1, help="Samples per class for class-consistency."),
    seed: int = typer.Option(0, help="Random seed of the halves and the samples."),
    out: Optional[Path] = typer.Option(None, help="Report folder. \\[default: report-DATA beside BUNDLE]"),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """FID / KID beside a real-vs-real baseline, precision / recall, class-consistency; report.html."""
    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    from sightkit.tasks.generate.api import Generator

    gen = Generator.load(bundle)

    def bar(description: str, total: int):
        return progress_bar(description, total, enabled=not json_out)

    report = gen.evaluate(data, out, features=features, n=n, per_class=per_class, seed=seed, progress=bar,
                          train_progress=not json_out, status=status)
    if json_out:
        print_json(report)
        return
    _print_report(report)


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "generated vs real", "real vs real (baseline)", title=report["feature_network"])
    for key in ("fid", "kid", "precision", "recall"):
        table.add_row(key, f"{report[key]:.4f}", f"{report['real_' + key]:.4f}")
    if report["class_consistency"] is not None:
        table.add_row("class consistency", f"{report['class_consistency']:.4f}", "")
    Console().print(table)
    typer.echo(f"report: {report['report_html']}")
