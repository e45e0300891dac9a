"""The registry of super-resolution generators and discriminators, by name.

``lightsr`` is the light PSNR-oriented model for edge devices; ``srresnet`` and ``rrdb``
are the stronger residual generators; ``patch_sn`` is the GAN discriminator. Names are the
API: the CLI's ``--arch`` lists and validates against :data:`GENERATORS`.

Example:
    >>> net = create_generator("lightsr", scale=2, channels=1)
    >>> receptive_field(net)
    21
    >>> sorted(GENERATORS)
    ['lightsr', 'rrdb', 'srresnet']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from torch import nn

from sightkit.errors import ModelError
from sightkit.tasks.enhance.discriminator_arch import PatchDiscriminator
from sightkit.tasks.enhance.lightsr_arch import LightSR
from sightkit.tasks.enhance.rrdb_arch import MSRResNet, RRDBNet

GENERATORS: dict[str, Callable[..., nn.Module]] = {"lightsr": LightSR, "srresnet": MSRResNet, "rrdb": RRDBNet}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {"patch_sn": PatchDiscriminator}
SCALES = (2, 3, 4)
DEFAULT_ARCH = "lightsr"


def create_generator(name: str, scale: int, channels: int = 1, **kwargs: Any) -> nn.Module:
    """Build generator ``name`` for ``scale`` (2, 3 or 4) and ``channels`` (1 = Y, 3 = RGB).

    Raises :class:`ModelError` for an unknown name or scale, suggesting the closest name.
    """
    if name not in GENERATORS:
        close = difflib.get_close_matches(name, GENERATORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ModelError(f"--arch {name!r} is not a super-resolution generator{hint}; "
                         f"choose one of {', '.join(sorted(GENERATORS))}")
    if scale not in SCALES:
        raise ModelError(f"--scale {scale}: super-resolution models support x{', x'.join(map(str, SCALES))}")
    if channels not in (1, 3):
        raise ModelError(f"channels must be 1 (Y) or 3 (RGB), not {channels}")
    try:
        return GENERATORS[name](scale=scale, channels=channels, **kwargs)
    except TypeError as exc:
        raise ModelError(f"--arch {name}: bad architecture arguments ({exc})") from None


def create_discriminator(name: str = "patch_sn", channels: int = 1, **kwargs: Any) -> nn.Module:
    """Build discriminator ``name`` for ``channels``-channel high-resolution images."""
    if name not in DISCRIMINATORS:
        raise ModelError(f"discriminator {name!r} is unknown; choose one of {', '.join(DISCRIMINATORS)}")
    return DISCRIMINATORS[name](channels=channels, **kwargs)


def receptive_field(model: nn.Module) -> int:
    """Side in low-resolution pixels of the input window one output pixel depends on."""
    return 2 * int(model.receptive_radius) + 1


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
