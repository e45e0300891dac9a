"""Which model a catalogue's vectors came from, and the refusal to mix models.

Vectors of two models live in different spaces: a query embedded by one model and compared
with a catalogue embedded by another returns confident nonsense. A catalogue records the
bundle's path and digest (:func:`sightkit.core.bundle.bundle_digest`: its ``bundle.json`` and
weights) and every use checks the model against it.

Example:
    >>> check_same_model({"digest": "ab", "bundle": "m"}, {"digest": "cd", "bundle": "n"}, "catalog.db")
    Traceback (most recent call last):
    sightkit.errors.CatalogError: catalog.db was built with the model m (digest ab), not n (digest cd): query with the model it was built with, or index into a new --db with this one
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sightkit.core.bundle import bundle_digest, is_bundle
from sightkit.errors import BundleError, CatalogError


def model_identity(bundle: str | Path) -> dict[str, Any]:
    """``{"bundle": absolute path, "digest": hash of the model}`` of a classify bundle (folder or ``.sightkit``)."""
    path = Path(bundle)
    if not path.exists():
        raise BundleError(f"{path}: no such bundle")
    if not is_bundle(path):
        raise BundleError(f"{path}: search embeds with the torch model; give the bundle (folder or .sightkit), "
                          "not an exported file")
    return {"bundle": os.path.abspath(path), "digest": bundle_digest(path)}


def check_same_model(stored: dict[str, Any], given: dict[str, Any], db: str | Path) -> None:
    """Raise :class:`CatalogError` unless ``given`` is the model whose identity ``stored`` records."""
    if stored.get("digest") != given["digest"]:
        raise CatalogError(
            f"{db} was built with the model {stored.get('bundle')} (digest {stored.get('digest')}), not "
            f"{given['bundle']} (digest {given['digest']}): query with the model it was built with, "
            "or index into a new --db with this one")


def stored_model(stored: dict[str, Any], db: str | Path) -> Path:
    """The bundle a catalogue was built with, checked to be unchanged since."""
    path = Path(str(stored.get("bundle", "")))
    if not path.exists():
        raise CatalogError(f"{db}: the model it was built with, {path}, is gone; give it with --bundle BUNDLE")
    current = model_identity(path)
    if current["digest"] != stored.get("digest"):
        raise CatalogError(f"{db}: the model {path} changed since the catalogue was built (digest "
                           f"{stored.get('digest')}, now {current['digest']}): re-index into a new --db, "
                           "or give the original model with --bundle")
    return path
