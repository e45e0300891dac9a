"""The medical recipe on PneumoniaMNIST: AUROC, sensitivity and specificity on val/, Grad-CAM, DICOM input.

Trains on ``../shared/data/pneumoniamnist/train`` alone (its tuning split, 20%, is carved out of
train/ with seed 0: model selection, temperature and the operating threshold never see val/),
with the recipe of docs/recipes/medical.md, then scores the untouched val/ split (135 normal,
389 pneumonia): medical metrics with bootstrap 95% CIs at the threshold chosen for
``--target-sensitivity`` on the tuning split, and at the argmax for comparison. Also writes
the Grad-CAM figure and the CT windowing figure of the recipe, and checks DICOM input: val
images written as 12-bit DICOM (half MONOCHROME1, with rescale and a window mapping them back)
must get exactly the labels of their PNGs.

Usage:
    SIGHTKIT_THREADS=1 python benchmarks/medical_pneumonia.py --epochs 15
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import SHARED_DATA, write_result  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "recipes"
DICOM_CHECKED = 40  # val images per class written as DICOM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--model", default="skcnn_small")
    parser.add_argument("--target-sensitivity", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()

    from sightkit.core.threads import set_threads
    from sightkit.tasks.classify.api import Classifier

    set_threads(1)
    root = SHARED_DATA / "pneumoniamnist"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pneumoniamnist-train"
        data.mkdir()
        (data / "train").symlink_to((root / "train").resolve())  # no val/: the tuning split comes from train/
        run = args.out or Path(tmp) / "run"
        started = time.perf_counter()
        clf = Classifier.train(data, args.model, out=run, epochs=args.epochs, balance=True,
                               target_sensitivity=args.target_sensitivity, seed=args.seed, progress=False,
                               status=lambda m: print(m, file=sys.stderr))
        train_s = time.perf_counter() - started
        # val/ holds 5 byte-identical copies of train/ images (PneumoniaMNIST's own duplicates): the
        # official split is scored whole, and again without them
        report = clf.evaluate(root / "val", Path(tmp) / "report", allow_train_images=True)
        argmax, deduplicated = _other_views(clf, root)
        gradcam = _gradcam_figure(clf, root / "val", DOCS / "medical_gradcam.png")
        dicom = _dicom_agreement(clf, root / "val", Path(tmp) / "dicom")
        _windows_figure(DOCS / "medical_windows.png")
        medical = {k: v for k, v in report["medical"].items() if k != "roc"}
        decision = clf.meta["decision"]
        training = clf.meta["training"]
        write_result("medical_pneumonia", {
            "dataset": "pneumoniamnist (28x28 grey chest X-rays)",
            "trained_on": f"train/ minus a 20% tuning split: {training['splits']}",
            "scored_on": f"val/ ({report['n']} images, never used in training or tuning)",
            "recipe": {"model": args.model, "epochs": args.epochs, "balance": True,
                       "target_sensitivity": args.target_sensitivity, "seed": args.seed,
                       "img_size": clf.meta["preprocessing"]["size"]},
            "train_seconds": round(train_s, 1), "epochs_run": training["epochs_run"],
            "goal": "AUROC >= 0.95 on val", "goal_met": medical["auroc"]["value"] >= 0.95,
            "decision": decision,
            "val_at_threshold": medical,
            "val_at_argmax": argmax,
            "val_without_train_duplicates_at_threshold": deduplicated,
            "accuracy": report["accuracy"], "balanced_accuracy": report["balanced_accuracy"],
            "gradcam": gradcam,
            "dicom_input": dicom,
        })


def _val_pairs(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = sorted((folder / name).glob("*.png"))
        paths += files
        labels += [index] * len(files)
    return paths, np.asarray(labels)


def _other_views(clf, root: Path) -> tuple[dict, dict]:
    """val/ at the argmax, and val/ without the files whose bytes equal a train/ file at the stored threshold."""
    from sightkit.tasks.classify.medical import medical_metrics
    from sightkit.tasks.classify.splits import fingerprint

    paths, labels = _val_pairs(root / "val", clf.classes)
    probs = clf.predictor.probabilities(paths)
    argmax = medical_metrics(probs, labels, clf.classes)
    seen = {fingerprint(p) for p in (root / "train").rglob("*.png")}
    keep = np.array([fingerprint(p) not in seen for p in paths])
    unique = medical_metrics(probs[keep], labels[keep], clf.classes, threshold=clf.meta["decision"]["threshold"])
    unique["dropped"] = int((~keep).sum())
    return ({k: v for k, v in argmax.items() if k != "roc"}, {k: v for k, v in unique.items() if k != "roc"})


def _gradcam_figure(clf, folder: Path, out: Path) -> dict:
    """Grad-CAM of the pneumonia class on 4 pneumonia and 4 normal val images (the first of each, in file order)."""
    from sightkit.core.images import load_image
    from sightkit.explain.api import explain_images
    from sightkit.tasks.classify.plots import plot_image_grid

    paths = [p for name in ("pneumonia", "normal") for p in sorted((folder / name).glob("*.png"))[:4]]
    explained = explain_images(clf.predictor, paths, "gradcam", target="pneumonia", batch_size=len(paths))
    predicted = clf.predict(paths, top_k=1)
    captions = [f"{p.parent.name} -> {r.label} ({r.score:.2f})" for p, r in zip(paths, predicted)]
    images = [load_image(p, "RGB").resize((112, 112)) for p in paths] + [e.overlay for e in explained]
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_image_grid(images, captions + ["Grad-CAM of pneumonia"] * len(paths)).savefig(out, dpi=80)
    return {"figure": str(out.relative_to(out.parents[2])), "images": [p.name for p in paths], "labels": captions}


def _dicom_agreement(clf, folder: Path, out: Path) -> dict:
    """Labels of val images written as DICOM (12-bit, rescaled, windowed, half MONOCHROME1) vs their PNGs."""
    from PIL import Image

    paths = [p for name in clf.classes for p in sorted((folder / name).glob("*.png"))[:DICOM_CHECKED]]
    out.mkdir(parents=True, exist_ok=True)
    dicoms = []
    for i, path in enumerate(paths):
        dicoms.append(out / f"{i:04d}.dcm")
        _write_dicom(dicoms[-1], np.asarray(Image.open(path).convert("L")), monochrome1=i % 2 == 1)
    from_png = [r.label for r in clf.predict(paths, top_k=1)]
    from_dicom = [r.label for r in clf.predict(dicoms, top_k=1)]
    same = sum(a == b for a, b in zip(from_png, from_dicom))
    return {"images": len(paths), "same_label": same, "agreement": same / len(paths),
            "encoding": "12-bit stored = 8-bit x 16 (MONOCHROME1: inverted), RescaleIntercept -1024, "
                        "WindowCenter/Width mapping 0-4080 back to 0-255"}


def _write_dicom(path: Path, pixels: np.ndarray, monochrome1: bool) -> None:
    """One grey image as an uncompressed 12-bit DICOM whose window reproduces the 8-bit pixels exactly."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    stored = (255 - pixels.astype(np.uint16) if monochrome1 else pixels.astype(np.uint16)) * 16
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    # LINEAR window: (x - (c - 0.5)) / (w - 1) + 0.5 maps -1024 .. 4080 - 1024 onto 0 .. 1
    ds.WindowCenter, ds.WindowWidth = 2040.5 - 1024, 4081
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)


def _windows_figure(out: Path) -> None:
    """pydicom's CT_small.dcm under the file's default (min-max here) and the four presets."""
    from matplotlib.figure import Figure
    from pydicom.data import get_testdata_file

    from sightkit.core.images import load_image

    ct = get_testdata_file("CT_small.dcm")
    windows = ["auto", "lung", "soft", "bone", "brain"]
    fig = Figure(figsize=(2.2 * len(windows), 2.5), layout="constrained")
    for i, window in enumerate(windows):
        ax = fig.add_subplot(1, len(windows), i + 1)
        ax.imshow(np.asarray(load_image(ct, "L", window=window)), cmap="gray", vmin=0, vmax=255)
        ax.set_title(window, fontsize=9)
        ax.axis("off")
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main()
