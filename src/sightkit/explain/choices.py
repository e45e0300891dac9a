"""The values that explanation options accept, with their checks; free of heavy imports.

The CLI lists these names in ``--help`` and checks them before it loads a model or reads an
image; the attribution code checks them again for Python callers.

Example:
    >>> check_choice("gradcam", METHODS, "--method")
    >>> check_choice("white", BASELINES, "--baseline")
    Traceback (most recent call last):
    sightkit.errors.ConfigError: --baseline 'white': choose one of black, mean, blur
"""

from __future__ import annotations

from collections.abc import Sequence

from sightkit.errors import ConfigError

METHODS = ("gradcam", "guided_gradcam", "layercam", "integrated_gradients", "occlusion", "saliency")
CAM_METHODS = frozenset({"gradcam", "layercam", "guided_gradcam"})
# Reference images of integrated gradients (see ``baselines``).
BASELINES = ("black", "mean", "blur")
# What deletion / insertion can remove pixels with: a baseline image, or "impute" (filled from
# the kept pixels around them, anchored to the blur; see ``faithfulness``).
CURVE_BASELINES = (*BASELINES, "impute")
DEVICES = ("cpu", "cuda")


def check_choice(value: str, choices: Sequence[str], option: str) -> None:
    """Raise :class:`ConfigError` naming ``option`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{option} {value!r}: choose one of {', '.join(choices)}")


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` unless ``device`` is ``cpu``, or ``cuda`` with a GPU visible.

    Example:
        >>> check_device("cpu")
    """
    check_choice(device, DEVICES, "--device")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is visible; use --device cpu")

