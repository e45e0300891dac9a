"""Explain a classifier's predictions: maps, overlays, faithfulness, files to browse.

Images go through the bundle's own preprocessing (mode, size, normalisation), exactly as
``predict`` does, so an RGB photo for a grayscale model or a 640 px file for a 32 px model
is converted, not refused. Maps have the model's input size.

Example:
    >>> results = explain_images(predictor, ["cat.jpg"], method="gradcam", out_dir="why")  # doctest: +SKIP
    >>> r = results[0]; r.label, r.score, r.map.shape                                     # doctest: +SKIP
    ('cat', 0.91, (32, 32))
    >>> r.overlay.save("cat_gradcam.png")                                                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sightkit.core.fileio import atomic_write_bytes, atomic_write_text
from sightkit.core.folders import removed_on_failure
from sightkit.core.images import ImageSource, load_image
from sightkit.data.transforms import build_eval_transform, to_model_size
from sightkit.errors import ConfigError, DataError, ImageError
from sightkit.explain.baselines import check_baseline, make_baseline
from sightkit.explain.choices import CAM_METHODS, CURVE_BASELINES
from sightkit.explain.faithfulness import deletion_insertion, randomized_copy, rank_correlation
from sightkit.explain.layers import MIN_CAM_SIDE, MIN_LAYERCAM_SIDE, choose_cam_layer, map_cell
from sightkit.explain.methods import attribute, check_method
from sightkit.explain.overlay import overlay
from sightkit.tasks.classify.predict import Predictor

TOP = "top"
# Default of what deletion turns pixels into and insertion starts from (RISE's insertion
# baseline): a constant grey or black leaves erased strokes and regions as shapes the model
# still reads (a grey "1" on black is still a "1"); a blur removes them without new edges.
# Where the class lives in coarse brightness that a blur keeps, "mean" is the better choice.
CURVE_BASELINE = "blur"
# Areas kept per image: the map's, then those of each reference (see ``faithfulness``).
REFERENCES = ("random", "region_random", "centre")
_SCORE_KEYS = ("deletion_auc", "insertion_auc",
               *(f"{reference}_{kind}_auc" for reference in REFERENCES for kind in ("deletion", "insertion")))


@dataclass
class Explanation:
    """Why the model gave ``label`` (probability ``score``) to one image, by one method."""

    path: str
    method: str
    label: str
    score: float
    predicted: str
    map: np.ndarray
    overlay: Image.Image
    layer: str | None = None
    faithfulness: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form without the map and the overlay (see ``files`` for those)."""
        data = {"path": self.path, "method": self.method, "label": self.label, "score": round(self.score, 6),
                "predicted": self.predicted, "layer": self.layer}
        return {**data, "faithfulness": self.faithfulness, "files": self.files}

    def overlay_png(self) -> bytes:
        """The overlay as PNG bytes (for a web response or an HTML page)."""
        buffer = io.BytesIO()
        self.overlay.save(buffer, format="PNG")
        return buffer.getvalue()


class Explainer:
    """One attribution method bound to one predictor; the Grad-CAM layer is resolved once.

    Example:
        >>> explainer = Explainer(predictor, "gradcam")                  # doctest: +SKIP
        >>> explainer.layer                                              # doctest: +SKIP
        'features'
    """

    def __init__(self, predictor: Predictor, method: str = "gradcam", *, layer: str | None = None,
                 baseline: str = "black", curve_baseline: str = CURVE_BASELINE) -> None:
        check_method(method)
        check_baseline(baseline)
        check_baseline(curve_baseline, CURVE_BASELINES, "--curve-baseline")
        if not isinstance(predictor.model, torch.nn.Module):
            raise ConfigError("explanations need gradients, which an ONNX model does not give; "
                              "explain the .sightkit bundle (or folder) it was exported from")
        if layer is not None and method not in CAM_METHODS:
            raise ConfigError(f"--layer applies to {', '.join(sorted(CAM_METHODS))} only, not to --method {method}")
        self.predictor, self.method, self.baseline = predictor, method, baseline
        self.curve_baseline = curve_baseline
        prep = predictor.meta["preprocessing"]
        self._mean, self._std = list(prep["mean"]), list(prep["std"])
        self._transform = build_eval_transform(self._mean, self._std)
        self.layer: str | None = None
        self.cell = 1  # input pixels per side of the map's own cells
        if method in CAM_METHODS:
            channels = 1 if predictor.mode == "L" else 3
            side = MIN_LAYERCAM_SIDE if method == "layercam" else MIN_CAM_SIDE
            self.layer = choose_cam_layer(predictor.model, channels, predictor.size, layer, side)[0]
            self.cell = map_cell(predictor.model, self.layer, channels, predictor.size)
        self._random_model: torch.nn.Module | None = None

    def target_index(self, target: str) -> int | None:
        """Class index of ``target`` (``None`` for ``"top"``, the predicted class)."""
        if target == TOP:
            return None
        if target not in self.predictor.classes:
            shown = ", ".join(self.predictor.classes[:20]) + (", ..." if len(self.predictor.classes) > 20 else "")
            raise ConfigError(f"--target {target!r} is not a class of this model; use 'top' or one of: {shown}")
        return self.predictor.classes.index(target)

    def load(self, source: ImageSource) -> torch.Tensor:
        """An image source as the model sees it before normalisation: uint8 ``(C, size, size)``."""
        return to_model_size(load_image(source, self.predictor.mode), self.predictor.size)

    def maps(self, inputs: torch.Tensor, targets: torch.Tensor, model: torch.nn.Module | None = None) -> torch.Tensor:
        """``(N, H, W)`` maps in [0, 1] of normalised ``inputs`` for class indices ``targets``."""
        model = model if model is not None else self.predictor.model
        layer = dict(model.named_modules())[self.layer] if self.layer is not None else None
        baseline = make_baseline(inputs, self.baseline, self._mean, self._std)
        return attribute(model, inputs, targets, self.method, layer=layer, baseline=baseline)

    def explain(self, pixels: Sequence[torch.Tensor], names: Sequence[str], target: str = TOP,
                faithfulness: bool = False) -> list[Explanation]:
        """Explanations of one batch of model-size uint8 images (from :meth:`load`)."""
        wanted = self.target_index(target)
        inputs = torch.stack([self._transform(p) for p in pixels]).to(self.predictor.device)
        probs = self._probabilities(inputs)
        predicted = probs.argmax(1)
        targets = predicted if wanted is None else torch.full_like(predicted, wanted)
        maps = self.maps(inputs, targets)
        scores = self._faithfulness(inputs, maps, targets) if faithfulness else [{} for _ in names]
        maps_np = maps.cpu().numpy().astype(np.float32)
        results = []
        for i, name in enumerate(names):
            label, score = self.predictor.classes[int(targets[i])], float(probs[i, targets[i]])
            image = Image.fromarray(np.ascontiguousarray(pixels[i].permute(1, 2, 0).squeeze(-1).numpy()))
            results.append(Explanation(
                name, self.method, label, score, self.predictor.classes[int(predicted[i])], maps_np[i],
                overlay(image, maps_np[i], f"{label}  p={score:.2f}"), self.layer, scores[i]))
        return results

    def explain_sources(self, sources: Sequence[ImageSource], target: str = TOP, *, batch_size: int = 32,
                        faithfulness: bool = False, on_error: Callable[[str], None] | None = None,
                        progress: Callable[[int], None] | None = None) -> list[Explanation]:
        """Explanations of image sources (paths, bytes, arrays...), ``batch_size`` at a time.

        An unreadable image raises :class:`ImageError`, or with ``on_error`` is reported to it
        and skipped; when not one of the sources can be read, :class:`DataError` says so.
        ``progress(n)`` is called after each batch with the number of sources it took.

        Example:
            >>> Explainer(predictor, "saliency").explain_sources(["a.png", "b.png"])[0].label  # doctest: +SKIP
            'cat'
        """
        self.target_index(target)
        results: list[Explanation] = []
        first_error: str | None = None
        for lo in range(0, len(sources), batch_size):
            pixels, names = [], []
            for index in range(lo, min(len(sources), lo + batch_size)):
                try:
                    pixels.append(self.load(sources[index]))
                    names.append(_name(sources[index], index))
                except ImageError as exc:
                    if on_error is None:
                        raise
                    first_error = first_error or str(exc)
                    on_error(str(exc))
            if pixels:
                results += self.explain(pixels, names, target, faithfulness)
            if progress is not None:
                progress(min(batch_size, len(sources) - lo))
        if first_error is not None and not results:
            if len(sources) > 1:
                first_error = f"none of the {len(sources)} images could be read (first: {first_error})"
            raise DataError(f"{first_error}; nothing to explain")
        return results

    def _probabilities(self, inputs: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Softmax of the logits divided by ``temperature`` (default: the bundle's calibration)."""
        temperature = self.predictor.temperature if temperature is None else temperature
        with torch.no_grad():
            return torch.softmax(self.predictor.model(inputs).float() / temperature, 1).cpu()

    def _faithfulness(self, inputs: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor) -> list[dict[str, float]]:
        impute = self.curve_baseline == "impute"
        baseline = make_baseline(inputs, "blur" if impute else self.curve_baseline, self._mean, self._std)
        # The model's own softmax, as in RISE: a calibration temperature below 1 saturates the
        # curves near 1 and hides the order of the pixels that the areas are meant to compare.
        areas = deletion_insertion(lambda x: self._probabilities(x, 1.0), inputs, maps, targets, baseline,
                                   cell=self.cell, impute=impute)
        if self._random_model is None:
            self._random_model = randomized_copy(self.predictor.model)
        random_maps = self.maps(inputs, targets, self._random_model).cpu().numpy()
        trained = maps.cpu().numpy()
        return [{**{k: round(float(areas[k][i]), 6) for k in _SCORE_KEYS},
                 "sanity_rank_correlation": round(rank_correlation(trained[i], random_maps[i]), 6)}
                for i in range(len(trained))]


def explain_images(predictor: Predictor, sources: Sequence[ImageSource], method: str = "gradcam", *,
                   target: str = TOP, layer: str | None = None, baseline: str = "black",
                   batch_size: int = 32, faithfulness: bool = False, curve_baseline: str = CURVE_BASELINE,
                   out_dir: str | Path | None = None,
                   on_error: Callable[[str], None] | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Explanation]:
    """Explain ``target`` ("top" = the predicted class, or a class name) for each image.

    ``layer`` overrides the Grad-CAM layer; ``baseline`` (black | mean | blur) is integrated
    gradients' reference. With ``faithfulness`` each result carries deletion / insertion
    areas (pixels turned into / revealed from ``curve_baseline``: blur | mean | black, or
    ``impute``: removed pixels filled from the kept ones around them), their
    random-order references and the sanity-check rank correlation. With
    ``out_dir`` the overlays (PNG), raw maps (``.npy``), ``explanations.json`` and a
    browsable ``index.html`` are written there (nothing, and no folder, when there is no
    result). Unreadable images: see :meth:`Explainer.explain_sources`.
    """
    explainer = Explainer(predictor, method, layer=layer, baseline=baseline, curve_baseline=curve_baseline)
    results = explainer.explain_sources(sources, target, batch_size=batch_size, faithfulness=faithfulness,
                                        on_error=on_error, progress=progress)
    if out_dir is not None and results:
        write_explanations(out_dir, results)
    return results


def summarize(results: Sequence[Explanation]) -> dict[str, Any]:
    """Mean faithfulness over ``results`` and how often the map beats a random order.

    ``deletion_beats_random`` is the fraction of images whose deletion area is lower than
    the random order's, ``insertion_beats_random`` whose insertion area is higher, and
    ``both_beat_random`` both at once; the same three for ``region_random`` (random orders
    of the map's own cells) and ``centre`` (a centred Gaussian map that ignores the model).
    """
    summary: dict[str, Any] = {"n": len(results), "method": results[0].method if results else None,
                               "layer": results[0].layer if results else None}
    scored = [r.faithfulness for r in results if r.faithfulness]
    if not scored:
        return summary
    for key in (*_SCORE_KEYS, "sanity_rank_correlation"):
        summary[f"mean_{key}"] = round(float(np.mean([s[key] for s in scored])), 6)
    for reference in REFERENCES:
        deletion = [s["deletion_auc"] < s[f"{reference}_deletion_auc"] for s in scored]
        insertion = [s["insertion_auc"] > s[f"{reference}_insertion_auc"] for s in scored]
        summary[f"deletion_beats_{reference}"] = round(float(np.mean(deletion)), 4)
        summary[f"insertion_beats_{reference}"] = round(float(np.mean(insertion)), 4)
        summary[f"both_beat_{reference}"] = round(float(np.mean(np.logical_and(deletion, insertion))), 4)
    return summary


def write_explanations(out_dir: str | Path, results: Sequence[Explanation]) -> Path:
    """Write each overlay PNG and raw ``.npy`` map, ``explanations.json`` and ``index.html``.

    Files are named ``<NNNN>-<image stem>-<method>.{png,npy}`` (the number keeps images of
    the same name apart); each result's ``files`` records them. Returns ``index.html``.
    A folder this call created is removed again if writing fails.
    """
    from sightkit.explain.html import write_index

    with removed_on_failure(out_dir) as folder:
        for index, result in enumerate(results):
            stem = f"{index:04d}-{_safe_stem(result.path)}-{result.method}"
            buffer = io.BytesIO()
            np.save(buffer, result.map)
            atomic_write_bytes(folder / f"{stem}.npy", buffer.getvalue())
            atomic_write_bytes(folder / f"{stem}.png", result.overlay_png())
            result.files = {"overlay": f"{stem}.png", "map": f"{stem}.npy"}
        summary = summarize(results)
        payload = {"summary": summary, "images": [r.to_dict() for r in results]}
        atomic_write_text(folder / "explanations.json", json.dumps(payload, indent=2) + "\n")
        return write_index(folder, results, summary)


def _name(source: ImageSource, index: int) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<image {index}>"


def _safe_stem(path: str) -> str:
    stem = Path(path).stem if not path.startswith("<") else "image"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60] or "image"
