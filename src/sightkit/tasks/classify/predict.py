"""Turn image files into calibrated top-k predictions with a trained classifier bundle.

The bundle's preprocessing (size, channels, mean/std) and temperature are applied, so
``predict`` never asks for sizes or normalisation. Decoding runs in DataLoader workers
when there are many files and cores the model's threads leave free, overlapping with the model.

Example:
    >>> predictor = Predictor.from_bundle("runs/digits/model")  # doctest: +SKIP
    >>> predictor.predict(["a.png"], top_k=3)[0].label  # doctest: +SKIP
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sightkit.core.bundle import load_bundle
from sightkit.core.channels import apply_channel_recipe
from sightkit.core.images import ImageSource, is_image_file, load_image
from sightkit.core.threads import FastestThreadCount, loader_workers
from sightkit.data.transforms import build_eval_transform, to_model_size
from sightkit.errors import ConfigError, DataError, ImageError
from sightkit.tasks.classify.medical import decide
from sightkit.tasks.classify.model import create_model, penultimate_features
from sightkit.tasks.classify.tta import tta_views

TASK = "classify"
UNKNOWN = "unknown"
BACKENDS = ("torch", "onnx")

Backend = Callable[[torch.Tensor], torch.Tensor]
"""What maps a preprocessed batch ``(N, C, H, W)`` to logits ``(N, classes)``: a torch module, or
an ONNX Runtime session (:class:`sightkit.deploy.onnx_predictor.OnnxBackend`)."""


@dataclass
class Prediction:
    """The answer for one image: best label, its calibrated probability and the top k.

    ``threshold`` is set when the bundle holds an operating threshold (``--target-sensitivity``):
    the label is then its positive class whenever that class's probability reaches it.
    """

    path: str
    label: str
    score: float
    topk: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"path", "label", "score", "topk": [{"label", "score"}]}``, plus ``threshold``, ``error`` if set."""
        data = asdict(self)
        data["topk"] = [{"label": label, "score": score} for label, score in self.topk]
        for key in ("error", "threshold"):
            if data[key] is None:
                data.pop(key)
        return data


class Predictor:
    """A classifier model with its preprocessing and calibration, ready to predict.

    ``model`` is a torch module or any other :data:`Backend`; pre- and post-processing are the
    same for all, so every backend gives the same labels.
    """

    def __init__(self, model: nn.Module | Backend, meta: dict[str, Any], device: str = "cpu") -> None:
        self.meta, self.device = meta, torch.device(device)
        self.model = model.to(self.device).eval() if isinstance(model, nn.Module) else model
        prep = meta["preprocessing"]
        self.classes: list[str] = list(meta["classes"])
        self.mode: str = prep["mode"]
        self.size: int = int(prep["size"])
        self.dicom_window: str | None = prep.get("dicom_window")  # SIGHTKIT_DICOM_WINDOW of the training run
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
        decision = meta.get("decision") or {}
        self.threshold: float | None = decision.get("threshold")
        self.positive_index = self.classes.index(decision["positive_class"]) if self.threshold is not None else 0
        self._transform = build_eval_transform(prep["mean"], prep["std"])
        self._thread_count = FastestThreadCount()
        # test-time views are mirrored only when training mirrored the images (``--no-hflip`` otherwise)
        self.tta_flip = bool(meta.get("training", {}).get("config", {}).get("hflip", True))

    @classmethod
    def from_bundle(cls, path: str | Path, device: str = "cpu", backend: str | None = None) -> Predictor:
        """Load a ``classify`` bundle (never unpickles).

        ``backend="onnx"`` (the default for ``.onnx`` files) runs a file written by
        ``sightkit export`` or ``sightkit quantize`` with ONNX Runtime instead.
        """
        backend = backend or ("onnx" if Path(path).suffix == ".onnx" else "torch")
        if backend not in BACKENDS:
            raise ConfigError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        if backend == "onnx":
            from sightkit.deploy.onnx_predictor import load_onnx_predictor

            return load_onnx_predictor(path, device)
        state, meta = load_bundle(path, task=TASK)
        arch = meta["architecture"]
        model = create_model(arch["name"], num_classes=len(meta["classes"]), in_chans=arch["in_chans"])
        apply_channel_recipe(model, arch.get("channels", {}))  # layers resized by pruning
        model.load_state_dict(state)
        return cls(model, meta, device)

    def preprocess(self, source: ImageSource) -> torch.Tensor:
        """One image source -> the normalised float tensor the model takes."""
        return self._transform(self.decode(source))

    def decode(self, source: ImageSource) -> torch.Tensor:
        """One image source -> the uint8 CHW tensor at the model's size (before normalisation)."""
        return to_model_size(load_image(source, self.mode, window=self.dicom_window), self.size)

    @torch.inference_mode()
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw (uncalibrated) logits of a preprocessed batch, on the CPU.

        A torch model on the CPU runs each batch shape on 1 thread or on all, whichever its
        first batches showed to be faster (:class:`~sightkit.core.threads.FastestThreadCount`).
        """
        if isinstance(self.model, nn.Module) and self.device.type == "cpu":
            return self._thread_count.run(tuple(batch.shape), lambda: self.model(batch).float())
        return self.model(batch.to(self.device)).float().cpu()

    @torch.inference_mode()
    def view_logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw logits of each test-time view (:mod:`~sightkit.tasks.classify.tta`): ``(N, views, classes)``.

        Example:
            >>> predictor.view_logits(batch).mean(1)  # the --tta logits  # doctest: +SKIP
        """
        views = tta_views(batch, self.tta_flip)
        logits = self.logits(torch.cat(views))
        return logits.view(len(views), len(batch), -1).transpose(0, 1)

    def iter_logits(self, sources: Sequence[ImageSource], batch_size: int = 64, workers: int | None = None,
                    tta: bool = False) -> Iterator[tuple[list[int], torch.Tensor, list[tuple[int, str]]]]:
        """Yield ``(indices, logits, errors)`` per batch; unreadable images are reported, not raised.

        Images are decoded one by one (in workers for many sources) and normalised a batch at a time.
        With ``tta`` the logits are the mean over the test-time views.
        """
        return self.iter_outputs(sources, self._tta_logits if tta else self.logits, batch_size, workers)

    def _tta_logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.view_logits(batch).mean(1)

    @torch.inference_mode()
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (before the classification head) of a preprocessed batch, on the CPU."""
        if not isinstance(self.model, nn.Module):
            raise ConfigError("embeddings need the torch model; load the bundle, not an .onnx file")
        return penultimate_features(self.model, batch.to(self.device)).float().cpu()

    def embed(self, sources: Sequence[ImageSource], batch_size: int = 64, skip_errors: bool = False,
              progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
        """L2-normalised penultimate-layer features ``(N, D)`` float32 of the readable sources.

        Returns ``(embeddings, indices of the sources they belong to, (index, error) per
        unreadable source)``; an unreadable source raises :class:`ImageError` unless ``skip_errors``.
        ``progress(n)`` is called after each batch with its number of sources.
        """
        rows, kept, failed = self._collect(sources, self.features, batch_size, skip_errors, progress)
        return torch.nn.functional.normalize(rows, dim=1).numpy(), kept, failed

    def probabilities(self, sources: Sequence[ImageSource], batch_size: int = 64, tta: bool = False) -> np.ndarray:
        """Calibrated class probabilities ``(N, classes)`` in the order of ``sources``; unreadable ones raise.
        ``tta``: from the mean logits of the test-time views."""
        logits = self._collect(sources, self._tta_logits if tta else self.logits, batch_size, skip_errors=False)[0]
        return torch.softmax(logits / self.temperature, dim=1).numpy()

    def _collect(self, sources: Sequence[ImageSource], compute: Callable[[torch.Tensor], torch.Tensor],
                 batch_size: int, skip_errors: bool, progress: Callable[[int], None] | None = None,
                 ) -> tuple[torch.Tensor, list[int], list[tuple[int, str]]]:
        kept, outputs, failed = [], [], []
        for indices, batch, errors in self.iter_outputs(sources, compute, batch_size):
            if progress is not None:
                progress(len(indices) + len(errors))
            if errors and not skip_errors:
                raise ImageError(errors[0][1])
            kept += indices
            failed += errors
            if indices:
                outputs.append(batch)
        if not outputs:
            raise DataError(f"no readable image among {len(sources)}" + (f", e.g. {failed[0][1]}" if failed else ""))
        stacked = torch.cat(outputs)
        order = np.argsort(kept, kind="stable")
        return stacked[torch.from_numpy(order)], [kept[i] for i in order], sorted(failed)

    def iter_outputs(self, sources: Sequence[ImageSource], compute: Callable[[torch.Tensor], torch.Tensor],
                      batch_size: int = 64, workers: int | None = None,
                      ) -> Iterator[tuple[list[int], torch.Tensor, list[tuple[int, str]]]]:
        """Yield ``(indices, compute(batch), errors)`` per batch of preprocessed images (as :meth:`iter_logits`)."""
        dataset = _SourceDataset(sources, self.decode)
        if workers is None:
            workers = self._decode_workers() if len(sources) >= 4 * batch_size else 0
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate)
        for indices, tensors, errors in loader:
            yield indices, (compute(self._transform(torch.stack(tensors))) if tensors else torch.empty(0)), errors

    def _decode_workers(self) -> int:
        """Decoding processes for a long run: only cores the model's own threads leave free.

        On a CPU model, workers on the cores torch computes with slow both down (on 2 cores,
        2 workers cut prediction from ~860 to ~600-700 img/s for 32 px images).
        """
        return loader_workers(None, compute=0 if self.device.type == "cuda" else None, limit=2)

    def predict(self, sources: Sequence[ImageSource], top_k: int = 5, min_confidence: float = 0.0,
                batch_size: int = 64, skip_errors: bool = False, tta: bool = False) -> list[Prediction]:
        """Calibrated top-k predictions, in the order of ``sources`` (``tta``: of the mean test-time-view logits).

        A bundle with an operating threshold (``meta["decision"]``) labels an image with its
        positive class whenever that class's probability reaches the threshold, else with the best
        other class. Below ``min_confidence`` the label is ``"unknown"``. An unreadable image raises
        :class:`ImageError`, or with ``skip_errors`` gives a Prediction whose ``error`` is set.
        """
        names = [_name(s, i) for i, s in enumerate(sources)]
        results: list[Prediction | None] = [None] * len(sources)
        for indices, logits, errors in self.iter_logits(sources, batch_size, tta=tta):
            for index, message in errors:
                if not skip_errors:
                    raise ImageError(message)
                results[index] = Prediction(names[index], UNKNOWN, 0.0, [], error=message)
            if not indices:
                continue
            labelled = self.label(logits, [names[i] for i in indices], top_k, min_confidence)
            for index, prediction in zip(indices, labelled):
                results[index] = prediction
        return [r for r in results if r is not None]

    def label(self, logits: torch.Tensor, names: Sequence[str], top_k: int = 5,
              min_confidence: float = 0.0) -> list[Prediction]:
        """Predictions of a batch of raw logits: calibrated top-k, and the label by the bundle's decision rule.

        The label is the argmax, or with an operating threshold in the bundle the positive class
        whenever its probability reaches it; ``"unknown"`` below ``min_confidence``.

        Example:
            >>> predictor.label(predictor.logits(batch), ["a.png", "b.png"], top_k=2)[0].label  # doctest: +SKIP
            'pneumonia'
        """
        probs = torch.softmax(logits / self.temperature, dim=1)
        scores, classes = probs.topk(max(1, min(top_k, len(self.classes))), dim=1)
        decided = decide(probs.numpy(), self.positive_index, self.threshold)
        results = []
        for row, name in enumerate(names):
            topk = [(self.classes[c], round(float(s), 6)) for s, c in zip(scores[row], classes[row])]
            score = round(float(probs[row, decided[row]]), 6)
            label = self.classes[decided[row]] if score >= min_confidence else UNKNOWN
            results.append(Prediction(name, label, score, topk, threshold=self.threshold))
        return results


def expand_image_paths(patterns: Sequence[str | Path]) -> list[Path]:
    """Files, folders (searched recursively) and globs -> a sorted-per-argument list of image files."""
    paths: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        elif path.exists():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
            if not found:
                raise DataError(f"IMAGES {pattern}: no such file, folder or matching glob")
        paths += found
    if not paths:
        raise DataError(f"IMAGES {' '.join(map(str, patterns))}: no image files found")
    return paths


class _SourceDataset(Dataset):
    def __init__(self, sources: Sequence[ImageSource], decode: Any) -> None:
        self.sources, self.decode = sources, decode

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return index, self.decode(self.sources[index]), None
        except ImageError as exc:
            return index, None, str(exc)


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]):
    good = [(i, t) for i, t, e in items if t is not None]
    errors = [(i, e) for i, t, e in items if t is None and e is not None]
    return [i for i, _ in good], [t for _, t in good], errors


def _name(source: ImageSource, index: int) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<image {index}>"
