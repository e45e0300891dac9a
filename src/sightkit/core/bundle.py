"""The model bundle: one on-disk format for every sightkit model.

A bundle is a directory holding ``weights.safetensors`` and ``bundle.json`` (plus optional
extra JSON files such as ``dataset.json``), or a ``.sightkit`` zip file of those entries. ``bundle.json`` carries everything needed to
rebuild the model and turn an image file into its input (task, architecture and its
arguments, class names, preprocessing, calibration, metrics, training config).
Loading reads tensors with safetensors and JSON with ``json``: nothing is unpickled.
Extra files carry what would make ``bundle.json`` long (e.g. the fingerprints of the
training images); read them with :func:`read_extra`.

Example:
    >>> save_bundle("runs/digits/model", model.state_dict(), {"task": "classify", ...})  # doctest: +SKIP
    >>> state, meta = load_bundle("runs/digits/model", task="classify")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sightkit import __version__
from sightkit.errors import BundleError

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "bundle.json"
ZIP_SUFFIX = ".sightkit"
# Extra files are plain JSON files at the top of the bundle.
# The command group of a task whose name is not its own group.
_COMMANDS = {"inpaint": "enhance inpaint"}
_EXTRA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.json$")


def save_bundle(path: str | Path, state_dict: dict[str, Any], meta: dict[str, Any],
                extras: dict[str, bytes] | None = None) -> Path:
    """Write a bundle atomically: a directory, or a zip when ``path`` ends in ``.sightkit``.

    ``meta`` must hold ``task``; ``format_version``, ``sightkit_version`` and ``created``
    are added. ``extras`` maps further file names (e.g. ``dataset.json``) to their bytes.
    An existing bundle at ``path`` is replaced only once the new one is complete.
    """
    from safetensors.torch import save as save_tensors

    if "task" not in meta:
        raise BundleError("bundle metadata needs a 'task'")
    path = Path(path)
    full_meta = {
        "format_version": FORMAT_VERSION,
        "sightkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **meta,
    }
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
    weights = save_tensors(tensors)
    meta_text = json.dumps(full_meta, indent=2, sort_keys=False, default=_json_default)
    members = {META_FILE: meta_text.encode("utf-8"), WEIGHTS_FILE: weights}
    for name, data in (extras or {}).items():
        if name in members or not _EXTRA_NAME.match(name):
            raise BundleError(f"bundle extra file {name!r}: use a plain file name other than {META_FILE}, "
                              f"{WEIGHTS_FILE}")
        members[name] = data
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ZIP_SUFFIX:
        _write_zip(path, members)
    else:
        _write_dir(path, members)
    return path


def read_extra(path: str | Path, name: str) -> bytes | None:
    """The bytes of the extra file ``name`` of a bundle, or ``None`` when the bundle has none.

    Example:
        >>> read_extra("runs/x/model", "dataset.json")  # doctest: +SKIP
        b'{"root": ...}'
    """
    path = Path(path)
    if path.is_dir():
        member = path / name
        return member.read_bytes() if member.is_file() else None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name) if name in archive.namelist() else None
    except (OSError, zipfile.BadZipFile):
        return None


def bundle_extras(path: str | Path) -> dict[str, bytes]:
    """Every extra file of a bundle (not ``bundle.json`` nor the weights), to carry into a copy.

    Example:
        >>> save_bundle("copy.sightkit", state, meta, extras=bundle_extras("runs/x/model"))  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        names = [p.name for p in path.iterdir() if p.is_file() and _EXTRA_NAME.match(p.name)]
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return {}
    extras = {n: read_extra(path, n) for n in names if n not in (META_FILE, WEIGHTS_FILE)}
    return {n: data for n, data in extras.items() if data is not None}


def is_bundle(path: str | Path) -> bool:
    """True for a bundle folder or ``.sightkit`` file, by its form (an ``.onnx`` file is not one).

    Example:
        >>> is_bundle("runs/x/model.onnx")
        False
    """
    path = Path(path)
    return path.is_dir() or path.suffix == ZIP_SUFFIX


def bundle_digest(path: str | Path) -> str:
    """A short hash of a bundle's ``bundle.json`` and weights: it changes whenever the model does.

    Example:
        >>> bundle_digest("runs/x/model")  # doctest: +SKIP
        '9c1e0f3a5b7d2e48'
    """
    path = Path(path)
    digest = hashlib.sha256()
    for name in (META_FILE, WEIGHTS_FILE):
        digest.update(_read_member(path, name))
    return digest.hexdigest()[:16]


def read_meta(path: str | Path) -> dict[str, Any]:
    """Return the ``bundle.json`` of a bundle without reading its weights."""
    path = Path(path)
    raw = _read_member(path, META_FILE)
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: {META_FILE} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "task" not in meta:
        raise BundleError(f"{path}: {META_FILE} has no 'task'; is this a sightkit bundle?")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format version {version} is newer than this sightkit "
            f"(reads up to {FORMAT_VERSION}); upgrade sightkit to load it"
        )
    return meta


def load_bundle(path: str | Path, task: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(state_dict, meta)``; with ``task`` given, refuse a bundle of another task."""
    from safetensors.torch import load as load_tensors

    path = Path(path)
    meta = read_meta(path)
    if task is not None and meta["task"] != task:
        raise BundleError(
            f"{path}: this is a '{meta['task']}' bundle, not a '{task}' bundle; "
            f"use the 'sightkit {_COMMANDS.get(meta['task'], meta['task'])}' commands with it"
        )
    try:
        state = load_tensors(_read_member(path, WEIGHTS_FILE))
    except Exception as exc:  # safetensors raises its own error types for corrupt data
        raise BundleError(f"{path}: {WEIGHTS_FILE} is corrupt ({exc})") from None
    return state, meta


def _read_member(path: Path, name: str) -> bytes:
    if not path.exists():
        raise BundleError(f"{path}: no such bundle (expected a folder or a {ZIP_SUFFIX} file)")
    if path.is_dir():
        member = path / name
        if not member.is_file():
            raise BundleError(f"{path}: missing {name}; is this a sightkit bundle?")
        return member.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except KeyError:
        raise BundleError(f"{path}: missing {name}; is this a sightkit bundle?") from None
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a sightkit bundle (neither a folder nor a zip file)") from None


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a bundle is an ordinary readable file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_dir(path: Path, members: dict[str, bytes]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is an ordinary readable folder
        for name, data in members.items():
            (staging / name).write_bytes(data)
        for member in staging.iterdir():
            with open(member, "rb") as handle:
                os.fsync(handle.fileno())
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(staging, path)
            except BaseException:
                os.replace(old, path)  # put the previous bundle back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in {META_FILE}")
