"""Faithfulness, sanity and speed of every explanation method on two trained models.

Models: skcnn_small trained on scikit-learn's digits (8x8, grey; its 20% test split) and on
the CIFAR-10 subset (32x32 colour; a stratified 20% test split, seed 0), each with
``Classifier.train``. For ``--images`` test images per model (``--other-images`` for the
methods other than Grad-CAM and LayerCAM, which cost more) and each method it reports the mean deletion /
insertion areas beside those of its references (random pixel orders, random orders of the map's
cells, a centred prior map; pixels blurred, probability = the model's softmax), the fraction of
images where the map beats each, and the mean Spearman rank correlation between the maps of the
trained and of the weight-randomised model. Controls: the centred prior itself scored against the
random references, and Grad-CAM with removed pixels imputed from their neighbours (ROAD-style)
instead of blurred, on ``--other-images`` images. Speed:
median seconds per explanation (map + overlay, no faithfulness) at batch 1 and batch 32, on
``torch.get_num_threads()`` threads (2 unless ``--threads`` says otherwise), and as a multiple
of one plain forward pass of the same images timed right after it (the machines are shared:
the ratio is the figure that carries over). Where another job is using the cores, pass
``--threads 1``: there, digits trained at ~40 images/s on two threads and ~2000 on one.

    python benchmarks/explain_faithfulness.py --images 200 --other-images 100 --cifar-epochs 35 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, write_result

GOAL_FRACTION = 0.8
GOAL_SANITY = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cifar", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--images", type=int, default=200, help="test images per model for Grad-CAM and LayerCAM")
    parser.add_argument("--other-images", type=int, default=100, help="test images per model for the other methods")
    parser.add_argument("--cifar-epochs", type=int, default=35,
                        help="CIFAR training epochs (about 5 minutes on 2 idle cores; 15 epochs reach test "
                             "accuracy 0.65, 35 reach 0.74); epochs, not minutes, so that a busy machine gives "
                             "the same model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="keep (and reuse) the trained models here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    load, start = [round(x, 2) for x in os.getloadavg()], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        models = {"digits": _train_digits(work)}
        if args.cifar.is_dir():
            models["cifar10_subset"] = _train_cifar(work, args.cifar, args.cifar_epochs)
        else:
            print(f"{args.cifar} not found: CIFAR skipped (needs ../shared/data)")
        results = {name: _measure(bundle, test, args.images, args.other_images)
                   for name, (bundle, test) in models.items()}
    write_result("explain_faithfulness", {"load_average_at_start": load, "wall_s": round(time.perf_counter() - start, 1),
                                          "goal": {"gradcam_fraction_beats_random": GOAL_FRACTION,
                                                   "sanity_rank_correlation_below": GOAL_SANITY},
                                          "goal_met": _goals(results, "gradcam"),
                                          "goal_met_by_layercam": _goals(results, "layercam"), "models": results})


def _goals(results: dict[str, Any], method: str) -> dict[str, dict[str, bool]]:
    """Per model: does ``method`` beat each random reference on enough images, and pass the sanity check?

    Two references: random pixel orders (``random``) and random orders of the map's own cells
    (``region_random``); see ``sightkit.explain.faithfulness``.
    """
    summaries = {name: r["methods"][method] for name, r in results.items()}
    return {name: {**{key: s[key] >= GOAL_FRACTION for reference in ("random", "region_random")
                      for key in (f"deletion_beats_{reference}", f"insertion_beats_{reference}",
                                  f"both_beat_{reference}")},
                   "sanity_rank_correlation": s["mean_sanity_rank_correlation"] < GOAL_SANITY}
            for name, s in summaries.items()}


def _centre_control(predictor: Any, chosen: list[Path], cell: int) -> dict[str, float]:
    """The centred Gaussian map (which ignores the model) scored like a method against both random references.

    How often a map that knows nothing beats them says how much "beats random" alone proves.
    """
    import numpy as np
    import torch

    from sightkit.explain.api import Explainer
    from sightkit.explain.baselines import make_baseline
    from sightkit.explain.faithfulness import centre_prior, deletion_insertion

    explainer = Explainer(predictor, "gradcam")
    inputs = _normalised(predictor, [explainer.load(p) for p in chosen])
    with torch.no_grad():
        probs = torch.softmax(predictor.model(inputs).float(), 1)
    side = inputs.shape[-1]
    maps = torch.from_numpy(centre_prior(side, side).reshape(1, side, side)).float().expand(len(inputs), -1, -1)
    prep = predictor.meta["preprocessing"]
    baseline = make_baseline(inputs, explainer.curve_baseline, prep["mean"], prep["std"])
    areas = deletion_insertion(lambda x: torch.softmax(predictor.model(x).float(), 1), inputs, maps, probs.argmax(1),
                               baseline, cell=cell)
    return {f"{kind}_beats_{reference}": round(float(np.mean(
                areas[f"{kind}_auc"] < areas[f"{reference}_{kind}_auc"] if kind == "deletion"
                else areas[f"{kind}_auc"] > areas[f"{reference}_{kind}_auc"])), 4)
            for reference in ("random", "region_random") for kind in ("deletion", "insertion")}


def _train_digits(work: Path) -> tuple[Path, list[Path]]:
    from sightkit import Classifier
    from sightkit.data.samples import export_digits

    data = export_digits(work / "digits")
    bundle = work / "digits-run" / "model"
    if not bundle.is_dir():
        Classifier.train(data, "skcnn_small", out=bundle.parent, epochs=12, hflip=False, batch_size=64,
                         progress=False, status=lambda m: None)
    return bundle, sorted((data / "test").rglob("*.png"))


def _train_cifar(work: Path, data: Path, epochs: int) -> tuple[Path, list[Path]]:
    import json

    from sightkit import Classifier

    bundle = work / "cifar-run" / "model"
    if not bundle.is_dir():
        Classifier.train(data, "skcnn_small", out=bundle.parent, epochs=epochs,
                         test_fraction=0.2, val_fraction=0.1, augment="light",
                         progress=False, status=lambda m: None)
    splits = json.loads((bundle.parent / "splits.json").read_text())
    return bundle, [Path(p) for p in splits["test"]]


def _measure(bundle: Path, test: list[Path], n_gradcam: int, n_other: int) -> dict[str, Any]:
    from sightkit.explain.api import CURVE_BASELINE, Explainer, explain_images, summarize
    from sightkit.explain.methods import METHODS
    from sightkit.tasks.classify.predict import Predictor

    predictor = Predictor.from_bundle(bundle)
    training = predictor.meta["training"]
    out: dict[str, Any] = {"architecture": predictor.meta["architecture"], "test_metrics": predictor.meta["metrics"],
                           "epochs_run": training["epochs_run"], "input_size": predictor.size,
                           "curve_baseline": CURVE_BASELINE, "methods": {}}
    for method in METHODS:
        n_images = n_gradcam if method in ("gradcam", "layercam") else n_other
        chosen = test[:: max(1, len(test) // n_images)][:n_images]
        start = time.perf_counter()
        summary = summarize(explain_images(predictor, chosen, method, faithfulness=True, batch_size=32))
        summary["wall_s_with_faithfulness"] = round(time.perf_counter() - start, 1)
        explainer = Explainer(predictor, method)
        pixels = [explainer.load(p) for p in chosen[:32]]
        for batch, part in ((1, pixels[:8]), (32, pixels)):
            seconds = _time_per_image(explainer.explain, part, batch)
            forward = _time_per_image(lambda images, _names: predictor.logits(_normalised(predictor, images)),
                                      part, batch)
            summary[f"seconds_per_image_batch{batch}"] = seconds
            summary[f"times_forward_batch{batch}"] = round(seconds / forward, 1)
        out["methods"][method] = summary
        print(bundle.parent.name, method, summary, flush=True)
    chosen = test[:: max(1, len(test) // n_gradcam)][:n_gradcam]
    out["centre_prior_control"] = _centre_control(predictor, chosen, Explainer(predictor, "gradcam").cell)
    print(bundle.parent.name, "centre prior control", out["centre_prior_control"], flush=True)
    imputed = test[:: max(1, len(test) // n_other)][:n_other]
    summary = summarize(explain_images(predictor, imputed, "gradcam", faithfulness=True, curve_baseline="impute"))
    out["gradcam_with_imputed_removal"] = {k: v for k, v in summary.items() if "beat" in k or k in ("n", "layer")}
    print(bundle.parent.name, "gradcam, imputed removal", out["gradcam_with_imputed_removal"], flush=True)
    return out


def _time_per_image(run: Any, pixels: list, batch: int) -> float:
    """Median seconds per image of ``run(images, names)`` over calls of ``batch`` images.

    Two warm-up calls first; the median, not the mean, since one stalled call on a shared
    machine would dominate a mean.
    """
    calls = [pixels[lo:lo + batch] for lo in range(0, len(pixels), batch)] * (5 if batch >= len(pixels) else 1)
    for part in calls[:2]:
        run(part, ["warm-up"] * len(part))
    times = []
    for part in calls:
        start = time.perf_counter()
        run(part, [str(i) for i in range(len(part))])
        times.append((time.perf_counter() - start) / len(part))
    return round(statistics.median(times), 5)


def _normalised(predictor: Any, images: list) -> Any:
    """A batch of model-size uint8 images, normalised as the bundle says."""
    import torch

    from sightkit.data.transforms import build_eval_transform

    prep = predictor.meta["preprocessing"]
    transform = build_eval_transform(prep["mean"], prep["std"])
    return torch.stack([transform(image) for image in images])


if __name__ == "__main__":
    main()
