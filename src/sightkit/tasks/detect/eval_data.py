"""Keep a detector's training images out of its evaluation, with classification's fingerprint record.

A detect bundle carries ``dataset.json`` in the classifier's format
(:mod:`sightkit.tasks.classify.splits`: the data's root and, per split, each image and a
fingerprint of its bytes). Evaluating on:

- **the training data itself** (``DATA`` is the folder or COCO file the bundle was trained on)
  scores only the recorded validation images, with a note saying so;
- **other data**: every image is fingerprinted; any that is byte-identical to a training image
  (a copy, a re-exported folder, a set that mixes them in) refuses the evaluation unless
  ``allow_train_images``, and then the report flags how many there are.

Bundles trained before the record existed (and ONNX exports, which carry no extra files)
rebuild the split from the recorded data path, validation fraction and seed, which is
right as long as the data has not changed; without any record, a note says the check was
impossible.

Example:
    >>> data, notes = held_out_data(detector, load_detection_data("street_voc"))  # doctest: +SKIP
    >>> notes  # doctest: +SKIP
    ['DATA is the training data of this model: scoring its 10 recorded validation images only']
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sightkit.core.bundle import read_extra
from sightkit.errors import DataError, SightkitError
from sightkit.tasks.classify.splits import (RECORD_FILE, DatasetRecord, _relative, fingerprint, load_record,
                                            training_fingerprints)
from sightkit.tasks.detect.dataset import DetectionData, Sample, load_detection_data, split_samples


def record_detection_data(root: Path, train: list[Sample], val: list[Sample]) -> bytes:
    """The ``dataset.json`` of a detection run (classification's format; the class column is empty).

    Example:
        >>> record = {RECORD_FILE: record_detection_data(root, train, val)}  # doctest: +SKIP
        >>> save_bundle(out, state, meta, extras=record)  # doctest: +SKIP
    """
    root = root.resolve()
    base = root if root.is_dir() else root.parent

    def rows(samples: list[Sample]) -> list[list[str]]:
        return [[_relative(s.image, base), "", fingerprint(s.image)] for s in samples]

    files = {"train": rows(train), "val": rows(val), "test": []}
    return json.dumps({"root": str(root), "files": files}, separators=(",", ":")).encode("utf-8")


def held_out_data(bundle: str | Path | None, meta: dict[str, Any], data: DetectionData,
                  allow_train_images: bool = False) -> tuple[DetectionData, list[str]]:
    """The images of ``data`` to score, and notes for the report (see the module docstring).

    ``bundle``: the bundle's path (``None`` for an ONNX file); ``meta``: its metadata.
    Raises :class:`DataError` when ``data`` holds training images and ``allow_train_images`` is false.
    """
    record = _record(bundle, meta)
    if record is None:
        return data, ["the model records no training images; whether DATA holds some cannot be checked"]
    if Path(data.root).resolve() == record.root:
        held_out = {path.resolve() for path, _, _ in record.files.get("val", [])}
        samples = [s for s in data.samples if s.image.resolve() in held_out]
        if samples:
            return replace(data, samples=samples), [f"DATA is the training data of this model: scoring its "
                                                    f"{len(samples)} recorded validation images only"]
        if not allow_train_images:
            raise DataError(f"DATA {data.root}: this is the model's training data and its run held out no images "
                            "(--val-fraction 0); evaluate on other images, or pass --allow-train-images")
        return data, [f"all {len(data.samples)} images are training images (--allow-train-images): the metrics "
                      "show fit, not accuracy on new images"]
    known = training_fingerprints(record)
    overlap = sum(1 for s in data.samples if fingerprint(s.image) in known)
    if not overlap:
        return data, []
    if not allow_train_images:
        raise DataError(f"DATA {data.root}: {overlap} of its {len(data.samples)} images are training images of "
                        f"this model (trained on {record.root}); evaluate on new images, or on {record.root} "
                        "itself to score its held-out images, or pass --allow-train-images")
    return data, [f"{overlap} of the {len(data.samples)} images are training images (--allow-train-images): "
                  "the metrics overstate accuracy on new images"]


def _record(bundle: str | Path | None, meta: dict[str, Any]) -> DatasetRecord | None:
    if bundle is not None and read_extra(bundle, RECORD_FILE) is not None:
        return load_record(bundle)
    return _resplit(meta)


def _resplit(meta: dict[str, Any]) -> DatasetRecord | None:
    """The split of a run without ``dataset.json``, rebuilt as training made it (same data, fraction, seed)."""
    training = meta.get("training") or {}
    config = training.get("config") or {}
    if not training.get("data") or not Path(training["data"]).exists():
        return None
    try:
        dataset = load_detection_data(training["data"])
    except SightkitError:  # the data changed so much it no longer reads
        return None
    train, val = split_samples(dataset.samples, config.get("val_fraction", 0.15), config.get("seed", 0))
    files = {name: [(s.image.resolve(), "", None) for s in samples] for name, samples in
             (("train", train), ("val", val))}
    return DatasetRecord(Path(training["data"]).resolve(), files)

