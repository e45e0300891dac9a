"""``sightkit export|quantize|prune|distill|bench``: make models small and fast, and measure them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import print_json, status


def export(
    bundle: Path = typer.Argument(..., help="A classify or detect bundle (folder or .sightkit)."),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    opset: int = typer.Option(17, help="ONNX opset, 7-20 (17 runs on ONNX Runtime 1.14+)."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Any batch size (without it: batch 1)."),
    out: Optional[Path] = typer.Option(None, help="Output file. \\[default: BUNDLE.onnx]"),
    samples: Optional[list[str]] = typer.Option(None, help="Real images for the parity check (files, folders, globs)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a bundle to ONNX with its metadata inside; fails, writing nothing, if ONNX Runtime disagrees."""
    from sightkit.deploy.export import export_onnx
    from sightkit.tasks.classify.predict import expand_image_paths

    images = expand_image_paths(samples)[:64] if samples else []
    result = export_onnx(bundle, out or bundle.with_suffix(".onnx"), fmt=fmt, opset=opset,
                         dynamic_batch=dynamic_batch, samples=images)
    if json_out:
        print_json(result.to_dict())
        return
    parity = result.parity
    if "matched" in parity:  # a detector: boxes compared, one image per call
        typer.echo(f"wrote {result.path} ({result.size_bytes / 2**20:.2f} MB, opset {result.opset}, one image of "
                   f"any size); parity on {parity['images']} images: {parity['matched']:.0%} of {parity['boxes']} "
                   f"boxes matched, max corner diff {parity['max_box_diff_px']:.2g} px")
        return
    typer.echo(f"wrote {result.path} ({result.size_bytes / 2**20:.2f} MB, opset {result.opset}, "
               f"{'dynamic batch' if result.dynamic_batch else 'batch 1'}); parity on {parity['n']} inputs: "
               f"max |logit diff| {parity['max_abs_diff']:.2g}, top-1 agreement {parity['top1_agreement']:.0%}")


def quantize(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit)."),
    calib: Optional[Path] = typer.Option(None, help="Real images to calibrate on (folder, recursive)."),
    val: Optional[Path] = typer.Option(None, help="Labelled images for the accuracy report. "
                                                  "\\[default: the --calib images not used to calibrate]"),
    out: Optional[Path] = typer.Option(None, help="Output file. \\[default: BUNDLE-int8.onnx]"),
    mode: str = typer.Option("static", help="static (calibrated QDQ) or dynamic (no calibration)."),
    method: str = typer.Option("percentile", help="Calibration: percentile (99.999th), minmax or entropy (KL)."),
    calib_size: int = typer.Option(256, help="Calibration images sampled from --calib."),
    per_channel: bool = typer.Option(True, "--per-channel/--per-tensor", help="Weight scales per output channel."),
    max_drop: Optional[float] = typer.Option(None, help="Refuse to write if top-1 drops more (percentage points)."),
    opset: int = typer.Option(17, help="ONNX opset (13-20 for static INT8)."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Any batch size (without it: batch 1)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """INT8-quantize a bundle to ONNX (static, calibrated on real images) and report the accuracy change."""
    from sightkit.deploy.quantize import quantize_bundle

    target = out or bundle.with_name(f"{bundle.stem}-int8.onnx")
    result = quantize_bundle(bundle, target, calib=calib, val=val, mode=mode, method=method, calib_size=calib_size,
                             per_channel=per_channel, max_drop=max_drop, opset=opset, dynamic_batch=dynamic_batch)
    if json_out:
        print_json(result.to_dict())
        return
    info = result.to_dict()
    typer.echo(f"wrote {result.path} ({result.size_bytes / 2**20:.2f} MB, {info['size_ratio']:.1f}x smaller than "
               f"FP32; {result.mode}{f', {result.method} on {result.n_calibration} images' if result.method else ''})")
    acc = result.accuracy
    if acc is None:
        status("accuracy change not measured: give --val DATA (labelled images)")
    else:
        typer.echo(f"top-1 on {acc['n']} images: FP32 {acc['fp32']:.4f} -> INT8 {acc['int8']:.4f} "
                   f"(drop {acc['drop_points']:.2f} points, agreement {acc['agreement']:.2%})")


def prune(
    bundle: Path = typer.Argument(..., help="A classify bundle (folder or .sightkit)."),
    data: Path = typer.Option(..., help="The training data of the bundle (same split is used)."),
    ratio: float = typer.Option(0.5, help="Share of each layer's channels to remove."),
    epochs: int = typer.Option(5, help="Fine-tuning epochs."),
    lr: Optional[float] = typer.Option(None, help="Fine-tuning peak LR. \\[default: 1/4 of the bundle's]"),
    max_minutes: Optional[float] = typer.Option(None, help="Stop fine-tuning after this many minutes."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/prune-ARCH-DATE]"),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Structured channel pruning (torch-pruning), then fine-tuning; writes a normal bundle."""
    from sightkit.engine.quiet import quiet_libraries
    from sightkit.core.bundle import read_meta
    from sightkit.deploy.prune import check_ratio, prune_bundle

    check_ratio(ratio)
    quiet_libraries()
    run_dir = out or _run_dir("prune", read_meta(bundle)["architecture"]["name"])
    result = prune_bundle(bundle, data, run_dir, ratio=ratio, epochs=epochs, lr=lr, max_minutes=max_minutes,
                          progress=progress, status=status)
    _print_summary({"bundle": str(result.bundle_path), **result.summary}, json_out)


def distill(
    teacher: Path = typer.Argument(..., help="The teacher: a classify bundle."),
    student: str = typer.Option(..., help="Student architecture: skcnn_tiny, skcnn_small, skcnn_base or a "
                                           "timm name."),
    data: Path = typer.Option(..., help="Training data (the teacher's; same split is used)."),
    epochs: int = typer.Option(10, help="Training epochs."),
    temperature: float = typer.Option(4.0, help="Softmax temperature of the soft labels."),
    alpha: float = typer.Option(0.7, help="Weight of the distillation term (1 - alpha: hard labels)."),
    lr: Optional[float] = typer.Option(None, help="Peak LR. \\[default: the teacher's]"),
    max_minutes: Optional[float] = typer.Option(None, help="Stop training after this many minutes."),
    out: Optional[Path] = typer.Option(None, help="Run folder. \\[default: runs/distill-STUDENT-DATE]"),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Knowledge distillation of a teacher bundle into a smaller student architecture."""
    from sightkit.engine.quiet import quiet_libraries
    from sightkit.deploy.distill import distill_bundle

    quiet_libraries()
    result = distill_bundle(teacher, student, data, out or _run_dir("distill", student), epochs=epochs,
                            temperature=temperature, alpha=alpha, lr=lr, max_minutes=max_minutes,
                            progress=progress, status=status)
    _print_summary({"bundle": str(result.bundle_path), **result.summary}, json_out)


def bench(
    bundles: list[Path] = typer.Argument(..., help="Bundles (each run as every backend) or .onnx files; "
                                                   "detectors are timed per 1080p frame."),
    backends: str = typer.Option("torch,onnx,onnx-int8", help="Comma list of torch, onnx, onnx-int8."),
    batch: str = typer.Option("1,8,32", help="Comma list of batch sizes."),
    data: Optional[Path] = typer.Option(None, help="Labelled images for accuracy (and INT8 calibration)."),
    calib: Optional[Path] = typer.Option(None, help="Calibration images for onnx-int8. \\[default: --data, else "
                                                    "the bundle's recorded validation split]"),
    threads: Optional[int] = typer.Option(None, min=1, help="Threads for every backend. \\[default: the "
                                                            "process-wide setting, sightkit --threads]"),
    warmup: int = typer.Option(3, help="Warm-up calls per variant and batch size."),
    repeats: int = typer.Option(20, help="Timed calls per variant and batch size."),
    out: Optional[Path] = typer.Option(None, help="Folder for bench.json and accuracy_latency.png."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Latency p50/p95, throughput, file size, peak memory and accuracy of each variant."""
    from sightkit.deploy.bench import bench as run_bench, write_bench_outputs

    result = run_bench(bundles, backends=[b.strip() for b in backends.split(",") if b.strip()],
                       batches=_int_list(batch), data=data, calib=calib, threads=threads, warmup=warmup,
                       repeats=repeats, status=status)
    written = write_bench_outputs(result, out) if out else {}
    if json_out:
        print_json(result)
        return
    _print_bench(result)
    for path in written.values():
        status(f"wrote {path}")


def _run_dir(kind: str, name: str) -> Path:
    return Path("runs") / f"{kind}-{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _int_list(text: str) -> list[int]:
    from sightkit.errors import ConfigError

    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--batch {text!r}: give comma-separated integers, e.g. 1,8,32") from None


def _print_summary(summary: dict, json_out: bool) -> None:
    """``field  value`` lines on stdout (values such as paths are never cut), or JSON."""
    if json_out:
        print_json(summary)
        return
    width = max(map(len, summary))
    for key, value in summary.items():
        shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
        typer.echo(f"{key:<{width}}  {shown}")


def _print_bench(result: dict) -> None:
    """The results as a table that fits 80 columns for the default batches (names are never cut)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    batches = [str(b) for b in result["batches"]]
    small, large = batches[0], batches[1:]
    with_accuracy = any(v["accuracy"] is not None for v in result["variants"])
    table = Table(box=box.SIMPLE_HEAD, title=f"{result['threads']} threads, {result['warmup']} warm-up + "
                                             f"{result['repeats']} repeats")
    table.add_column("variant", no_wrap=True)
    for header in ("size\nMB", "peak RSS\nMB", f"p50 ms\nbatch {small}", f"p95 ms\nbatch {small}",
                   *[f"img/s\nbatch {b}" for b in large], *(["top-1"] if with_accuracy else [])):
        table.add_column(header, justify="right")
    for v in result["variants"]:
        latency = v["latency_ms"][small]
        table.add_row(v["name"], f"{v['file_size_mb']:.2f}", f"{v['peak_rss_mb']:.0f}", f"{latency['p50']:.2f}",
                      f"{latency['p95']:.2f}", *[f"{v['throughput_ips'][b]:,.0f}" for b in large],
                      *([] if not with_accuracy else ["-" if v["accuracy"] is None else f"{v['accuracy']:.4f}"]))
    Console().print(table)
