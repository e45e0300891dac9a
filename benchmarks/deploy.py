"""Deploy small and fast: ONNX Runtime, INT8, pruning and distillation on 2 CPU cores.

1. ``skcnn_small`` trained on the CIFAR-10 subset for ``--train-minutes`` (split: 20% test,
   stratified, seed 0; of the rest 1/8 validation). Accuracies are on the 1,000-image test split.
2. ONNX Runtime through sightkit (``Predictor.logits`` over an ``OnnxBackend``) against a bare
   ``onnxruntime.InferenceSession`` on the same file, the same preprocessed batch of 32 and the
   same thread count. Target >= 0.95. Every comparison is timed as its own pair, round-robin in
   alternating order (A B, B A, ...), median per call.
3. Static INT8 (QDQ, per-channel, 256 calibration images from the training split) against FP32
   ONNX Runtime at batch 32: speed-up (target >= 2, default percentile calibration), file size
   ratio (>= 3.5) and top-1 drop (<= 1 point) for each calibration method.
4. The same speed figures for timm ``resnet18`` at 224 px, randomly initialised (speed does not
   depend on the weights; its accuracy is not measured), calibrated on CIFAR images resized to 224.
5. 50% channel pruning of the trained CNN + ``--finetune-minutes`` of fine-tuning: accuracy and
   speed-up (torch eager and ONNX Runtime, batch 32).
6. Distillation of the trained CNN into ``skcnn_tiny`` against ``skcnn_tiny`` trained alone with
   the same epochs and split.

    python benchmarks/deploy.py --threads 2 --train-minutes 3 --finetune-minutes 2 --student-epochs 12
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result

SPLIT = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-minutes", type=float, default=3.0)
    parser.add_argument("--train-epochs", type=int, default=20, help="sized so the cosine schedule ends near the budget")
    parser.add_argument("--finetune-minutes", type=float, default=2.0)
    parser.add_argument("--finetune-epochs", type=int, default=8)
    parser.add_argument("--student-epochs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=15, help="round-robin repeats of every 32 px timing")
    parser.add_argument("--r18-repeats", type=int, default=6, help="round-robin repeats of the 224 px timings")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (needs ../shared/data)")

    import torch

    from sightkit.engine.quiet import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        from sightkit import Classifier

        quiet = {"progress": False, "status": lambda m: None}
        teacher = Classifier.train(args.data, "skcnn_small", out=tmp_path / "teacher", epochs=args.train_epochs,
                                   max_minutes=args.train_minutes, batch_size=64, augment="light", **SPLIT, **quiet)
        print("trained", teacher.meta["metrics"], flush=True)
        splits = _splits(args.data)
        cnn = _speed_section(teacher.path, tmp_path / "cnn", args.threads, args.repeats, calib=splits["train"],
                             test=splits["test"])
        print("cnn", cnn, flush=True)
        r18 = _speed_section(_resnet18_bundle(tmp_path), tmp_path / "r18", args.threads, args.r18_repeats,
                             calib=splits["train"][:64], test=None)
        print("resnet18", r18, flush=True)
        pruning = _pruning(teacher.path, tmp_path, args, quiet)
        print("pruning", pruning, flush=True)
        distillation = _distillation(teacher.path, tmp_path, args, quiet)
        print("distillation", distillation, flush=True)
        teacher_summary = {"model": "skcnn_small", "test_accuracy": teacher.report["accuracy"],
                           "epochs_run": teacher.meta["training"]["epochs_run"], "n_test": teacher.report["n"]}
    write_result("deploy", {
        "data": str(args.data), "threads": args.threads, "split": SPLIT, "teacher": teacher_summary,
        "targets": {"ort_vs_bare": ">= 0.95", "int8_speedup": ">= 2", "int8_size_ratio": ">= 3.5",
                    "int8_drop_points": "<= 1"},
        "skcnn_small_32px": cnn, "resnet18_224px_random_init": r18, "pruning_50pct": pruning,
        "distillation": distillation, "wall_minutes": round((time.perf_counter() - started) / 60, 1),
    })


def _splits(data: Path) -> dict[str, Any]:
    from sightkit.data.discover import discover

    s = discover(data, SPLIT["val_fraction"], SPLIT["test_fraction"], SPLIT["seed"])
    return {"train": [x.path for x in s.train], "test": [(x.path, s.classes[x.label]) for x in s.test]}


def _resnet18_bundle(tmp: Path) -> Path:
    from sightkit.core.bundle import save_bundle
    from sightkit.tasks.classify.model import create_model, default_normalization

    mean, std = default_normalization("resnet18", 3)
    meta = {"task": "classify", "architecture": {"name": "resnet18", "in_chans": 3, "num_classes": 10},
            "classes": [f"c{i}" for i in range(10)], "calibration": {"temperature": 1.0},
            "preprocessing": {"size": 224, "mode": "RGB", "channels": 3, "mean": mean, "std": std}}
    return save_bundle(tmp / "resnet18", create_model("resnet18", 10, 3).state_dict(), meta)


def _speed_section(bundle: Path, out: Path, threads: int, repeats: int, calib: list[Path],
                   test: list[tuple[Path, str]] | None) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    from sightkit.deploy.bench import time_calls
    from sightkit.deploy.export import export_onnx
    from sightkit.deploy.onnx_predictor import load_onnx_predictor
    from sightkit.deploy.quantize import quantize_bundle
    from sightkit.tasks.classify.predict import Predictor

    out.mkdir(parents=True)
    fp32 = export_onnx(bundle, out / "fp32.onnx", dynamic_batch=True)
    eager = Predictor.from_bundle(bundle)
    onnx_pred = load_onnx_predictor(fp32.path, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    bare = ort.InferenceSession(str(fp32.path), options, providers=["CPUExecutionProvider"])
    batch = torch.randn(32, 3, eager.size, eager.size)
    array = batch.numpy()
    section: dict[str, Any] = {"fp32_onnx_mb": round(fp32.size_bytes / 2**20, 3), "parity": fp32.parity}
    methods = ("percentile", "minmax", "entropy") if test else ("percentile",)  # the default first
    int8 = {}
    for method in methods:
        q = quantize_bundle(bundle, out / f"int8-{method}.onnx", calib=calib, val=test, method=method,
                            dynamic_batch=True)
        int8[method] = {"size_ratio": q.to_dict()["size_ratio"], "accuracy": q.accuracy}
    int8_pred = load_onnx_predictor(out / "int8-percentile.onnx", threads=threads)

    def ms_per_image(first: Any, second: Any) -> tuple[float, float]:  # one pair, alternating order
        times = time_calls([first, second], warmup=3, repeats=repeats)
        return 1000 * statistics.median(times[0]) / 32, 1000 * statistics.median(times[1]) / 32

    ort_ms, bare_ms = ms_per_image(lambda: onnx_pred.logits(batch), lambda: bare.run(None, {"input": array}))
    fp32_ms, int8_ms = ms_per_image(lambda: onnx_pred.logits(batch), lambda: int8_pred.logits(batch))
    eager_ms, ort2_ms = ms_per_image(lambda: eager.logits(batch), lambda: onnx_pred.logits(batch))
    section.update({
        "ms_per_image_batch32": {"pair_sightkit_vs_bare": [round(ort_ms, 3), round(bare_ms, 3)],
                                 "pair_fp32_vs_int8": [round(fp32_ms, 3), round(int8_ms, 3)],
                                 "pair_torch_eager_vs_onnx": [round(eager_ms, 3), round(ort2_ms, 3)]},
        "ort_sightkit_vs_bare_throughput": round(bare_ms / ort_ms, 3),
        "ort_vs_eager_speedup": round(eager_ms / ort2_ms, 2),
        "int8_speedup_vs_fp32_ort": round(fp32_ms / int8_ms, 2),
        "int8": int8,
    })
    return section


def _pruning(teacher: Path, tmp: Path, args: argparse.Namespace, quiet: dict) -> dict[str, Any]:
    import torch

    from sightkit.deploy.bench import time_calls
    from sightkit.deploy.export import export_model
    from sightkit.deploy.onnx_predictor import OnnxBackend
    from sightkit.deploy.prune import prune_bundle
    from sightkit.tasks.classify.predict import Predictor

    result = prune_bundle(teacher, args.data, tmp / "pruned", ratio=0.5, epochs=args.finetune_epochs,
                          max_minutes=args.finetune_minutes, **quiet)
    original, pruned = Predictor.from_bundle(teacher), Predictor.from_bundle(result.bundle_path)
    ort_models = [OnnxBackend(export_model(p, dynamic_batch=True).SerializeToString(), args.threads)
                  for p in (original, pruned)]
    batch = torch.randn(32, 3, original.size, original.size)
    eager_o, eager_p = (statistics.median(t) for t in time_calls(
        [lambda: original.logits(batch), lambda: pruned.logits(batch)], warmup=3, repeats=args.repeats))
    ort_o, ort_p = (statistics.median(t) for t in time_calls(
        [lambda: ort_models[0](batch), lambda: ort_models[1](batch)], warmup=3, repeats=args.repeats))
    return {**result.summary, "speedup_torch_eager": round(eager_o / eager_p, 2),
            "speedup_onnx_runtime": round(ort_o / ort_p, 2),
            "epochs_run": Predictor.from_bundle(result.bundle_path).meta["training"]["epochs_run"]}


def _distillation(teacher: Path, tmp: Path, args: argparse.Namespace, quiet: dict) -> dict[str, Any]:
    from sightkit import Classifier
    from sightkit.deploy.distill import distill_bundle

    budget = 2 * args.finetune_minutes  # a safety cap; the epochs decide
    distilled = distill_bundle(teacher, "skcnn_tiny", args.data, tmp / "student", epochs=args.student_epochs,
                               max_minutes=budget, **quiet)
    alone = Classifier.train(args.data, "skcnn_tiny", out=tmp / "alone", epochs=args.student_epochs,
                             max_minutes=budget, batch_size=64, augment="light", **SPLIT, **quiet)
    return {**distilled.summary, "student_alone_accuracy": alone.report["accuracy"],
            "gain_points": round(100 * (distilled.summary["student_accuracy"] - alone.report["accuracy"]), 2),
            "epochs_run": {"distilled": Classifier.load(distilled.bundle_path).meta["training"]["epochs_run"],
                           "alone": alone.meta["training"]["epochs_run"]}}


if __name__ == "__main__":
    main()
