"""The models that ship inside the package, by name, so ``upscale`` works with no download.

Each is a ``.sightkit`` bundle under ``sightkit/weights/`` trained by ``sightkit enhance train``;
the exact command is in its ``bundle.json`` (``training.command``) and in ``docs/enhance.md``.

Example:
    >>> shipped_name("default", 4)
    'default-x4'
    >>> resolve_model("default-x4").name  # doctest: +SKIP
    'enhance-default-x4.sightkit'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sightkit.errors import EnhanceError, ModelError

KINDS = ("default", "gan")  # default = PSNR-oriented lightsr; gan = its adversarially fine-tuned copy
SHIPPED_SCALES = (2, 4)


def shipped_name(kind: str, scale: int) -> str:
    """The name of the shipped ``kind`` model at ``scale``; refuses a scale that is not shipped."""
    if kind not in KINDS:
        raise ModelError(f"--model {kind!r}: choose {' or '.join(KINDS)}, or give the path of an enhance bundle")
    if scale not in SHIPPED_SCALES:
        raise EnhanceError(f"--scale {scale}: sightkit ships x{' and x'.join(map(str, SHIPPED_SCALES))} models; "
                           f"train an x{scale} model with 'sightkit enhance train HR_FOLDER --scale {scale}'")
    return f"{kind}-x{scale}"


def shipped_models() -> dict[str, Path]:
    """Every shipped model name with the path of its bundle (present in the installed package)."""
    folder = Path(str(resources.files("sightkit"))) / "weights"
    return {f"{kind}-x{scale}": folder / f"enhance-{kind}-x{scale}.sightkit" for kind in KINDS for scale in SHIPPED_SCALES
            if (folder / f"enhance-{kind}-x{scale}.sightkit").is_file()}


def resolve_model(name_or_path: str | Path) -> Path:
    """A shipped model name (``default-x4``) or a bundle path -> the bundle's path."""
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if path.exists():
        return path
    names = ", ".join(sorted(shipped)) or "none installed"
    raise ModelError(f"model {str(name_or_path)!r}: no such bundle and not a shipped model ({names})")
