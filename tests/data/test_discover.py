"""Tests of dataset discovery (class folders, split folders, CSV manifests) and ImageDataset."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import Sample, discover, read_labelled_images
from sightkit.data.transforms import build_eval_transform
from sightkit.errors import DataError

THREE = ("dark", "bright", "stripes")


def _paths(samples: list[Sample]) -> set[Path]:
    return {s.path for s in samples}


def _labels(samples: list[Sample]) -> set[int]:
    return {s.label for s in samples}


# --- class folders and stratified splits --------------------------------------------

def test_class_folders_give_sorted_classes_and_all_images(make_dataset):
    root = make_dataset(per_class=10, classes=THREE)
    splits = discover(root, val_fraction=0.2, seed=0)
    assert splits.classes == ["bright", "dark", "stripes"]
    assert splits.source == root and splits.skipped == [] and splits.test == []
    everything = splits.train + splits.val
    assert len(everything) == 30
    assert _paths(everything) == set(root.rglob("*.png"))
    for sample in everything:  # the label is the index of the sample's folder name
        assert splits.classes[sample.label] == sample.path.parent.name
    assert splits.summary() == {"classes": 3, "train": 24, "val": 6, "test": 0, "skipped": 0}


def test_split_is_seeded_reproducible_and_seed_dependent(make_dataset):
    root = make_dataset(per_class=20, classes=THREE)
    a = discover(root, val_fraction=0.25, test_fraction=0.25, seed=3)
    b = discover(root, val_fraction=0.25, test_fraction=0.25, seed=3)
    c = discover(root, val_fraction=0.25, test_fraction=0.25, seed=4)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    assert _paths(a.val) != _paths(c.val) or _paths(a.test) != _paths(c.test)


def test_splits_are_disjoint_and_stratified(make_dataset):
    root = make_dataset(per_class=20, classes=THREE)
    splits = discover(root, val_fraction=0.2, test_fraction=0.2, seed=0)
    train, val, test = _paths(splits.train), _paths(splits.val), _paths(splits.test)
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == 60
    for part in (splits.val, splits.test):  # 20% of 20 per class: 4 of each class
        counts = np.bincount([s.label for s in part], minlength=3)
        assert counts.tolist() == [4, 4, 4]


def test_every_class_with_two_images_is_in_val(tmp_path: Path, make_dataset):
    root = make_dataset(per_class=2, classes=THREE)  # 5% of 2 rounds to 0, yet one is held out
    splits = discover(root, val_fraction=0.05, seed=0)
    assert _labels(splits.val) == {0, 1, 2}
    assert _labels(splits.train) == {0, 1, 2}


def test_class_with_one_image_stays_in_train(tmp_path: Path, make_dataset):
    root = make_dataset(per_class=4, classes=("dark", "bright"))
    for extra in list((root / "bright").iterdir())[1:]:
        extra.unlink()
    splits = discover(root, val_fraction=0.5, seed=0)
    bright = splits.classes.index("bright")
    assert [s.label for s in splits.train].count(bright) == 1
    assert bright not in _labels(splits.val)


def test_bad_fractions_are_refused(tiny_dataset: Path):
    with pytest.raises(DataError, match="--val-fraction"):
        discover(tiny_dataset, val_fraction=0.6, test_fraction=0.5)


# --- train/val/test folders ----------------------------------------------------------

def test_split_folders_are_used_as_is(tmp_path: Path, make_dataset):
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        make_dataset(f"data/{split}", per_class=n, classes=THREE, seed=len(split))
    root = tmp_path / "data"
    splits = discover(root, val_fraction=0.4, test_fraction=0.4, seed=0)
    assert splits.classes == ["bright", "dark", "stripes"]
    assert _paths(splits.train) == set((root / "train").rglob("*.png"))
    assert _paths(splits.val) == set((root / "val").rglob("*.png"))
    assert _paths(splits.test) == set((root / "test").rglob("*.png"))


def test_missing_val_folder_is_carved_from_train(tmp_path: Path, make_dataset):
    make_dataset("data/train", per_class=10, classes=THREE)
    make_dataset("data/test", per_class=2, classes=THREE, seed=1)
    root = tmp_path / "data"
    splits = discover(root, val_fraction=0.2, seed=0)
    train_files = set((root / "train").rglob("*.png"))
    assert _paths(splits.train) | _paths(splits.val) == train_files
    assert not _paths(splits.train) & _paths(splits.val)
    assert len(splits.val) == 6 and _labels(splits.val) == {0, 1, 2}
    assert _paths(splits.test) == set((root / "test").rglob("*.png"))


def test_split_folder_with_a_class_not_in_train_is_refused(tmp_path: Path, make_dataset):
    make_dataset("data/train", per_class=3, classes=("dark", "bright"))
    make_dataset("data/val", per_class=2, classes=("dark", "stripes"))
    with pytest.raises(DataError, match="val has classes not in train: stripes"):
        discover(tmp_path / "data")


def test_read_labelled_images_prefers_test_then_val(tmp_path: Path, make_dataset):
    make_dataset("data/train", per_class=3)
    make_dataset("data/val", per_class=2, seed=1)
    root = tmp_path / "data"
    pairs, skipped = read_labelled_images(root)
    assert {p.parent.parent.name for p, _ in pairs} == {"val"} and len(pairs) == 4 and skipped == []
    make_dataset("data/test", per_class=1, seed=2)
    pairs, _ = read_labelled_images(root)
    assert {p.parent.parent.name for p, _ in pairs} == {"test"}
    assert sorted(c for _, c in pairs) == ["bright", "dark"]


# --- CSV manifests ---------------------------------------------------------------------

def _manifest_images(tmp_path: Path, make_dataset) -> list[tuple[str, str]]:
    """Images under tmp_path/data; ``(path relative to tmp_path, class)`` rows."""
    root = make_dataset(per_class=5, classes=THREE)
    return [(str(p.relative_to(tmp_path)), p.parent.name) for p in sorted(root.rglob("*.png"))]


@pytest.mark.parametrize("header", [True, False])
def test_manifest_with_and_without_header(tmp_path: Path, make_dataset, header: bool):
    rows = _manifest_images(tmp_path, make_dataset)
    text = ("path,label\n" if header else "") + "".join(f"{p},{c}\n" for p, c in rows)
    manifest = tmp_path / "labels.csv"
    manifest.write_text(text)
    splits = discover(manifest, val_fraction=0.2, seed=0)
    assert splits.classes == ["bright", "dark", "stripes"]
    assert _paths(splits.train + splits.val) == {tmp_path / p for p, _ in rows}  # relative to the CSV
    assert len(splits.val) == 3 and splits.skipped == []


def test_manifest_split_column(tmp_path: Path, make_dataset):
    rows = _manifest_images(tmp_path, make_dataset)
    split_of = {i: ("val" if i % 5 == 0 else "test" if i % 5 == 1 else "train") for i in range(len(rows))}
    sub = tmp_path / "lists"
    sub.mkdir()
    manifest = sub / "labels.csv"  # paths are relative to this folder
    manifest.write_text("path,label,split\n" + "".join(
        f"../{p}, {c} ,{split_of[i].upper()}\n" for i, (p, c) in enumerate(rows)))
    splits = discover(manifest, val_fraction=0.5, test_fraction=0.3, seed=0)
    expect = {s: {sub / f"../{p}" for i, (p, _) in enumerate(rows) if split_of[i] == s} for s in ("train", "val", "test")}
    assert _paths(splits.train) == expect["train"]
    assert _paths(splits.val) == expect["val"]
    assert _paths(splits.test) == expect["test"]
    assert all(splits.classes[s.label] == s.path.parent.name for s in splits.train + splits.val + splits.test)


def test_manifest_absolute_paths(tmp_path: Path, make_dataset):
    rows = _manifest_images(tmp_path, make_dataset)
    manifest = tmp_path / "elsewhere" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text("".join(f"{tmp_path / p},{c}\n" for p, c in rows))
    splits = discover(manifest, seed=0)
    assert len(splits.train) + len(splits.val) == 15


def test_manifest_row_with_one_column_is_refused(tmp_path: Path, make_dataset):
    rows = _manifest_images(tmp_path, make_dataset)
    manifest = tmp_path / "labels.csv"
    manifest.write_text(f"path,label\n{rows[0][0]},{rows[0][1]}\n{rows[1][0]}\n")
    with pytest.raises(DataError, match=r"labels\.csv: row 2 needs 'path,label'"):
        discover(manifest)


def test_manifest_with_unknown_split_or_no_rows(tmp_path: Path, make_dataset):
    rows = _manifest_images(tmp_path, make_dataset)
    manifest = tmp_path / "labels.csv"
    manifest.write_text(f"{rows[0][0]},{rows[0][1]},holdout\n")
    with pytest.raises(DataError, match="labels.csv: row 1 has split 'holdout'"):
        discover(manifest)
    manifest.write_text("path,label\n\n")
    with pytest.raises(DataError, match="labels.csv: the manifest lists no images"):
        discover(manifest)


def test_manifest_missing_file_is_skipped(tmp_path: Path, make_dataset):
    rows = _manifest_images(tmp_path, make_dataset)
    manifest = tmp_path / "labels.csv"
    manifest.write_text("".join(f"{p},{c}\n" for p, c in rows) + "data/dark/gone.png,dark\n")
    splits = discover(manifest)
    assert [p.name for p, _ in splits.skipped] == ["gone.png"]
    assert "file not found" in splits.skipped[0][1]
    assert len(splits.train) + len(splits.val) == 15


# --- grayscale detection ---------------------------------------------------------------

def test_grayscale_detection(make_dataset):
    assert discover(make_dataset("grey", mode="L")).grayscale is True
    assert discover(make_dataset("colour", mode="RGB")).grayscale is False
    mixed = make_dataset("mixed", mode="L")
    Image.new("RGB", (12, 12), (10, 200, 30)).save(mixed / "dark" / "colour.png")
    assert discover(mixed).grayscale is False


# --- errors ------------------------------------------------------------------------------

def test_missing_folder(tmp_path: Path):
    with pytest.raises(DataError, match=r"DATA .*nowhere: not found"):
        discover(tmp_path / "nowhere")


def test_empty_folder(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"DATA .*empty: no class subfolders"):
        discover(tmp_path / "empty")


def test_class_folder_without_images(tiny_dataset: Path):
    (tiny_dataset / "ghost").mkdir()
    (tiny_dataset / "ghost" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"class 'ghost' \(.*ghost\) has no readable images"):
        discover(tiny_dataset)


def test_single_class(make_dataset):
    root = make_dataset(classes=("dark",))
    with pytest.raises(DataError, match=r"only one class \('dark'\); a classifier needs at least two"):
        discover(root)


def test_hidden_folders_and_files_are_ignored(tiny_dataset: Path):
    (tiny_dataset / ".cache").mkdir()
    Image.new("L", (12, 12)).save(tiny_dataset / ".cache" / "x.png")
    Image.new("L", (12, 12)).save(tiny_dataset / "dark" / ".hidden.png")
    splits = discover(tiny_dataset)
    assert splits.classes == ["bright", "dark"] and len(splits.train) + len(splits.val) == 24


def test_unreadable_files_are_skipped_not_fatal(tiny_dataset: Path):
    dark = tiny_dataset / "dark"
    (dark / "notes.jpg").write_text("this is text, not a JPEG")
    (dark / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    Image.new("L", (1, 1)).save(dark / "dot.png")
    (dark / "readme.txt").write_text("ignored: not an image suffix")
    splits = discover(tiny_dataset)
    skipped = {p.name: reason for p, reason in splits.skipped}
    assert set(skipped) == {"notes.jpg", "corrupt.png", "dot.png"}
    assert all(str(dark / name) in reason for name, reason in skipped.items())
    assert "too small" in skipped["dot.png"]
    used = {s.path.name for s in splits.train + splits.val}
    assert len(used) == 24 and not used & set(skipped)


def test_class_with_only_unreadable_files_is_an_error_naming_it(tiny_dataset: Path):
    (tiny_dataset / "broken").mkdir()
    (tiny_dataset / "broken" / "a.jpg").write_text("text")
    with pytest.raises(DataError, match="class 'broken'"):
        discover(tiny_dataset)


# --- ImageDataset ----------------------------------------------------------------------

def _truncated_png(path: Path) -> Path:
    """A PNG whose header (size, mode) reads fine but whose pixel data is cut short."""
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3)])
def test_image_dataset_returns_normalised_tensors(make_dataset, mode: str, channels: int):
    root = make_dataset(per_class=3, size=20, mode="RGB")
    splits = discover(root, val_fraction=0.0)
    transform = build_eval_transform([0.5] * channels, [0.25] * channels)
    ds = ImageDataset(splits.train, mode, 16, transform)
    assert len(ds) == 6 and ds.skipped == []
    assert ds.cached is not None and ds.cached.dtype == torch.uint8
    assert ds.cached.shape == (6, channels, 16, 16)
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == torch.float32 and image.shape == (channels, 16, 16)
        assert label == splits.train[i].label
        expected = (ds.cached[i].float() / 255 - 0.5) / 0.25
        torch.testing.assert_close(image, expected)
    dark = splits.classes.index("dark")
    means = {label: float(ds[i][0].mean()) for i, label in enumerate(ds.labels.tolist())}
    assert means[dark] < -1.0 < 1.0 < means[1 - dark]  # dark ~40/255, bright ~215/255


def test_image_dataset_caches_in_memory(tiny_dataset: Path, monkeypatch):
    splits = discover(tiny_dataset, val_fraction=0.0)
    ds = ImageDataset(splits.train, "L", 12, build_eval_transform([0.5], [0.25]))
    assert ds.cached is not None and len(ds.cached) == 24

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("sightkit.data.dataset.load_image", no_decoding)
    for path in tiny_dataset.rglob("*.png"):
        path.unlink()  # items come from memory, not from the files
    assert [ds[i][1] for i in range(len(ds))] == [s.label for s in splits.train]


def test_image_dataset_without_cache_decodes_on_the_fly(tiny_dataset: Path):
    splits = discover(tiny_dataset, val_fraction=0.0)
    ds = ImageDataset(splits.train, "L", 12, build_eval_transform([0.5], [0.25]), cache_bytes=0)
    assert ds.cached is None
    image, label = ds[5]
    assert image.shape == (1, 12, 12) and label == splits.train[5].label


def test_truncated_file_lands_in_skipped(tiny_dataset: Path):
    bad = _truncated_png(tiny_dataset / "dark" / "truncated.png")
    splits = discover(tiny_dataset, val_fraction=0.0)
    assert bad in _paths(splits.train)  # the header is fine, so discovery keeps it
    ds = ImageDataset(splits.train, "L", 12, build_eval_transform([0.5], [0.25]))
    assert [p for p, _ in ds.skipped] == [str(bad)]
    assert "truncated.png" in ds.skipped[0][1]
    assert len(ds) == 24 and len(ds.labels) == 24 and ds.cached.shape[0] == 24
    assert bad not in {s.path for s in ds.samples}
