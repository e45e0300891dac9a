"""The training configuration of an anomaly detector, validated by pydantic and saved in the bundle."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

METHODS = ("patchcore", "autoencoder")


class TrainConfig(BaseModel):
    """Every option of ``sightkit anomaly train`` / ``AnomalyDetector.train``.

    ``false_alarm`` is the share of normal images the default threshold flags: the threshold is
    the ``1 - false_alarm`` quantile of the scores of the held-out normal images
    (``val_fraction`` of the folder, never used for the memory bank or the autoencoder).

    Example:
        >>> TrainConfig(method="autoencoder").epochs
        40
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["patchcore", "autoencoder"] = "patchcore"
    backbone: str | None = Field(None, description="a classify bundle whose mid-level features PatchCore uses "
                                                   "(default: the built-in random wide CNN)")
    size: int | None = Field(None, ge=8, le=512, description="input side in px (default: the backbone "
                                                             "bundle's, else 64)")
    false_alarm: float = Field(0.05, gt=0, lt=1, description="share of normal images over the default threshold")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="share of the normal images held out to fit "
                                                             "the threshold")
    coreset_fraction: float = Field(0.1, gt=0, le=1, description="share of the patch features kept in the "
                                                                 "memory bank")
    max_bank: int = Field(10_000, ge=1, description="most patch features in the memory bank")
    epochs: int = Field(40, ge=1, description="autoencoder training epochs")
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0, description="autoencoder learning rate")
    seed: int = 0

    def summary(self) -> dict[str, Any]:
        """The options as plain JSON values, for ``bundle.json``."""
        return self.model_dump()
