"""Score images with a trained anomaly bundle: one number per image, a map of where, a decision.

Example:
    >>> scorer = AnomalyScorer.from_bundle("runs/anomaly/model")     # doctest: +SKIP
    >>> result = scorer.score(["frame_0412.jpg"])[0]                 # doctest: +SKIP
    >>> result.score, result.is_anomaly, result.heatmap.shape        # doctest: +SKIP
    (4.21, True, (64, 64))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms.v2 import functional as VF

from sightkit.core.bundle import load_bundle
from sightkit.core.images import ImageSource, load_image
from sightkit.errors import ImageError
from sightkit.tasks.anomaly.data import load_batch
from sightkit.tasks.anomaly.memory_bank import nearest_distance
from sightkit.tasks.anomaly.model import ConvAutoencoder, PatchFeatures, build_backbone

TASK = "anomaly"


@dataclass
class AnomalyScore:
    """The answer for one image: its score, the threshold it was judged by, and where it looks unusual.

    ``heatmap`` is the score map at the model's input side (patch distances for PatchCore,
    squared reconstruction error for the autoencoder), or ``None`` for an unreadable file.
    """

    path: str
    score: float
    threshold: float
    is_anomaly: bool
    heatmap: np.ndarray | None = None
    map_reference: float = 1.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"path", "score", "threshold", "anomaly"}`` (plus ``error``)."""
        data: dict[str, Any] = {"path": self.path, "score": round(self.score, 6), "threshold": round(self.threshold, 6),
                                "anomaly": self.is_anomaly}
        if self.error is not None:
            data["error"] = self.error
        return data

    def overlay(self, image: ImageSource | None = None) -> Image.Image:
        """The heatmap over the image, captioned with the score and decision.

        The colours are fixed, not stretched per image: the value that normal images reach
        at the chosen false-alarm rate is the middle of the colour map, so a normal image
        stays blue and an unusual region turns red.

        Example:
            >>> result.overlay().save("frame_0412_heatmap.png")  # doctest: +SKIP
        """
        from sightkit.explain.overlay import overlay

        if self.heatmap is None:
            raise ImageError(f"{self.path}: no heatmap ({self.error})")
        picture = load_image(image if image is not None else self.path, "RGB")
        heat = np.clip(0.5 * self.heatmap / self.map_reference, 0.0, 1.0)
        verdict = "ANOMALY" if self.is_anomaly else "normal"
        relation = ">" if self.is_anomaly else "<="
        return overlay(picture, heat, f"{verdict}  {self.score:.3g} {relation} {self.threshold:.3g}")


class AnomalyScorer:
    """A trained anomaly model with its preprocessing and default threshold, ready to score."""

    def __init__(self, net: nn.Module, meta: dict[str, Any], bank: torch.Tensor | None = None) -> None:
        self.net, self.meta, self.bank = net.eval(), meta, bank
        prep = meta["preprocessing"]
        self.mode: str = prep["mode"]
        self.size: int = int(prep["size"])
        self.mean = torch.tensor(prep["mean"]).view(1, -1, 1, 1)
        self.std = torch.tensor(prep["std"]).view(1, -1, 1, 1)
        self.method: str = meta["method"]

    @property
    def threshold(self) -> float:
        """The default threshold: fitted on held-out normal images at the training false-alarm rate."""
        return float(self.meta["threshold"]["value"])

    @classmethod
    def from_bundle(cls, path: str | Path) -> AnomalyScorer:
        """Load an ``anomaly`` bundle (never unpickles); refuses a bundle of another task."""
        state, meta = load_bundle(path, task=TASK)
        net = build_net(meta)
        net.load_state_dict({k: v for k, v in state.items() if k != "memory_bank"})
        return cls(net, meta, state.get("memory_bank"))

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` -> the float input of the network."""
        return (batch.float() / 255.0 - self.mean) / self.std

    @torch.inference_mode()
    def score_batch(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image scores ``(N,)`` and score maps ``(N, size, size)`` of a uint8 batch."""
        x = self.normalise(batch)
        if self.method == "patchcore":
            feats = self.net(x)
            n, d, h, w = feats.shape
            patch = nearest_distance(feats.permute(0, 2, 3, 1).reshape(-1, d), self.bank).view(n, 1, h, w)
            scores = patch.flatten(1).max(dim=1).values
            maps = torch.nn.functional.interpolate(patch, size=(self.size, self.size), mode="bilinear",
                                                   align_corners=False)
        else:
            maps = ((self.net(x) - x) ** 2).mean(dim=1, keepdim=True)
            scores = maps.flatten(1).mean(dim=1)
        sigma = max(0.5, self.size / 56)  # PatchCore smooths with sigma 4 at 224 px
        maps = VF.gaussian_blur(maps, kernel_size=2 * round(2 * sigma) + 1, sigma=sigma)
        return scores, maps[:, 0]

    def score(self, sources: Sequence[ImageSource], threshold: float | None = None, batch_size: int = 32,
              skip_errors: bool = False, progress: Callable[[int], None] | None = None) -> list[AnomalyScore]:
        """Score each source (file, PIL image, array); ``threshold`` overrides the bundle's default.

        An unreadable file raises :class:`ImageError`, or with ``skip_errors`` gives a result
        with ``error`` set and a NaN score.
        """
        limit = self.threshold if threshold is None else float(threshold)
        reference = float(self.meta["threshold"]["map_reference"])
        results: list[AnomalyScore | None] = [None] * len(sources)
        for start in range(0, len(sources), batch_size):
            decoded, kept = [], []
            for index in range(start, min(start + batch_size, len(sources))):
                try:
                    decoded.append(load_batch([sources[index]], self.mode, self.size)[0])
                    kept.append(index)
                except ImageError as exc:
                    if not skip_errors:
                        raise
                    results[index] = AnomalyScore(_name(sources[index], index), float("nan"), limit, False,
                                                  error=str(exc))
            if decoded:
                scores, maps = self.score_batch(torch.stack(decoded))
                for row, index in enumerate(kept):
                    value = float(scores[row])
                    results[index] = AnomalyScore(_name(sources[index], index), value, limit, value > limit,
                                                  maps[row].numpy(), reference)
            if progress is not None:
                progress(min(batch_size, len(sources) - start))
        return [r for r in results if r is not None]


def build_net(meta: dict[str, Any]) -> nn.Module:
    """The untrained network that ``meta`` describes (its weights come from the bundle)."""
    size, channels = int(meta["preprocessing"]["size"]), len(meta["preprocessing"]["mean"])
    if meta["method"] == "patchcore":
        return PatchFeatures(build_backbone(meta["backbone"], size))
    arch = meta["autoencoder"]
    return ConvAutoencoder(channels, arch["width"], arch["latent"])


def _name(source: ImageSource, index: int) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<image {index}>"
