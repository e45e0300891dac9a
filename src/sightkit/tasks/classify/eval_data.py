"""Choose the images an evaluation scores, and never let training images in unnoticed.

When ``DATA`` is the dataset the bundle was trained on, its recorded test split is scored
(its val split when the run had no test split); ``split`` picks another. Any other ``DATA``
is compared with the fingerprints of the training images: a copy of them, the ``train/``
folder or a folder that mixes them in is refused unless ``allow_train_images``.

Example:
    >>> chosen = choose_eval_data("runs/x/model", "data/flowers")  # doctest: +SKIP
    >>> chosen.split, len(chosen.pairs), chosen.describe()        # doctest: +SKIP
    ('test', 120, 'recorded test split of /data/flowers: 120 images')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sightkit.data.discover import evaluation_folder, read_labelled_images
from sightkit.errors import ConfigError, DataError
from sightkit.tasks.classify.splits import (RECORD_FILE, SPLIT_CHOICES, BundleRef, DatasetRecord, fingerprint,
                                            load_record, training_fingerprints)

EXTERNAL = "external"
"""The ``split`` of images that are not a recorded split of the training data."""


@dataclass
class EvalData:
    """The labelled images to score and what they are, for the report."""

    pairs: list[tuple[Path, str]]
    split: str
    data: str
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    training_images: int = 0

    def describe(self, n: int | None = None) -> str:
        """One line for tables and reports: which images, and how many (``n`` when fewer could be read)."""
        what = f"recorded {self.split} split of {self.data}" if self.split != EXTERNAL else self.data
        extra = f", {self.training_images} of them training images" if self.training_images else ""
        return f"{what}: {len(self.pairs) if n is None else n} images{extra}"


def choose_eval_data(bundle: BundleRef, data: str | Path | Sequence[tuple[Path, str]], split: str | None = None,
                     allow_train_images: bool = False) -> EvalData:
    """The images to evaluate ``bundle`` on (a bundle path or its metadata); see the module docstring.

    Raises :class:`ConfigError` for a ``split`` that cannot apply and :class:`DataError` when
    the images include training images and ``allow_train_images`` is false.
    """
    if split is not None and split not in SPLIT_CHOICES:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLIT_CHOICES)}")
    record = load_record(bundle)
    is_training_data = (record is not None and isinstance(data, (str, Path))
                        and Path(data).resolve() == record.root)
    if is_training_data:
        chosen = _recorded(record, data, split)
    else:
        if split is not None:
            where = f"it was trained on {record.root}" if record is not None else "the bundle records no training data"
            raise ConfigError(f"--split {split}: DATA is not the dataset this model was trained on ({where}); "
                              "--split chooses a split of that dataset")
        chosen = external_data(data)
    if chosen.split in ("train", "all"):
        chosen.notes.append(f"scoring the {chosen.split} split includes training images: "
                            "the metrics show fit, not accuracy on new images")
        return chosen
    if record is None:
        chosen.notes.append(f"the bundle records no training images ({RECORD_FILE}); "
                            "whether DATA holds some cannot be checked")
        return chosen
    _check_overlap(chosen, record, allow_train_images)
    return chosen


def _recorded(record: DatasetRecord, data: str | Path, split: str | None) -> EvalData:
    name = split or ("test" if record.files.get("test") else "val")
    pairs = record.pairs(name)
    recorded = sum(len(record.files.get(s, [])) for s in (("train", "val", "test") if name == "all" else (name,)))
    if not recorded:
        raise DataError(f"DATA {data}: the training run had no {name} split; choose another --split")
    chosen = EvalData(pairs, name, str(record.root))
    if len(pairs) < recorded:
        chosen.notes.append(f"{recorded - len(pairs)} of the {recorded} files of the {name} split are gone")
    if not pairs:
        raise DataError(f"DATA {data}: none of the {recorded} files of the recorded {name} split exist any more")
    if all(fp is None for files in record.files.values() for _, _, fp in files):
        chosen.notes.append("the bundle records no file list; the split was rebuilt from the data path, fractions "
                            "and seed, and is right only if the dataset has not changed since training")
    return chosen


def external_data(data: str | Path | Sequence[tuple[Path, str]]) -> EvalData:
    """``data`` as given (a folder's ``test/`` or ``val/`` when it has one), without the training-image check.

    Example:
        >>> external_data("data/digits").data  # doctest: +SKIP
        'data/digits/test'
    """
    if not isinstance(data, (str, Path)):
        return EvalData(list(data), EXTERNAL, "<pairs>")
    pairs, skipped = read_labelled_images(data)
    shown = evaluation_folder(data) if Path(data).is_dir() else Path(data)
    return EvalData(pairs, EXTERNAL, str(shown), skipped=skipped)


def _check_overlap(chosen: EvalData, record: DatasetRecord, allow: bool) -> None:
    known = training_fingerprints(record)
    overlap = sum(1 for path, _ in chosen.pairs if fingerprint(path) in known)
    if not overlap:
        return
    chosen.training_images = overlap
    if allow:
        chosen.notes.append(f"{overlap} of the {len(chosen.pairs)} images are training images "
                            "(--allow-train-images): the metrics overstate accuracy on new images")
        return
    n = len(chosen.pairs)
    if chosen.split == EXTERNAL:
        raise DataError(f"DATA {chosen.data}: {overlap} of its {n} images are training images of this model "
                        f"(trained on {record.root}); evaluate on new images, or on {record.root} itself to score "
                        "its recorded held-out split, or pass --allow-train-images")
    raise DataError(f"DATA {record.root}: {overlap} of the {n} images of its recorded {chosen.split} split are "
                    "byte-identical copies of training images (duplicates in the dataset); remove the duplicates, "
                    "or pass --allow-train-images")
