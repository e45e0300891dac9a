"""The inpainting models that ship inside the package, by name: ``general`` and ``face``.

Each is a ``.sightkit`` bundle under ``sightkit/weights/`` trained by ``sightkit enhance
train-inpaint``; the exact command is in its ``bundle.json`` (``training.command``) and in
``docs/enhance.md``.

Example:
    >>> sorted(INPAINT_MODELS)
    ['face', 'general']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sightkit.errors import ModelError

INPAINT_MODELS = {"general": "inpaint-general.sightkit", "face": "inpaint-face.sightkit"}


def shipped_inpaint_models() -> dict[str, Path]:
    """Every shipped inpainting model name with its bundle's path (those present in the package)."""
    folder = Path(str(resources.files("sightkit"))) / "weights"
    return {name: folder / file for name, file in INPAINT_MODELS.items() if (folder / file).is_file()}


def resolve_inpaint_model(name_or_path: str | Path) -> Path:
    """A shipped model name (``general``, ``face``) or a bundle path -> the bundle's path."""
    shipped = shipped_inpaint_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if path.exists():
        return path
    names = ", ".join(sorted(shipped)) or "none installed"
    raise ModelError(f"inpainting model {str(name_or_path)!r}: no such bundle and not a shipped model ({names})")
