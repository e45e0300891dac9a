"""``sightkit face detect|enroll|identify|verify|list|remove|calibrate|evaluate``: face recognition."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Optional

import typer

from sightkit.cli._output import err_console, print_json, progress_bar, status

app = typer.Typer(help="Detect, enroll, identify and verify faces; calibrate and evaluate.", no_args_is_help=True)

GALLERY = typer.Option(..., "--gallery", "-g", help="Gallery file (SQLite), e.g. people.db.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
CROPS = typer.Option(None, "--crops/--no-crops",
                     help="Images are face crops: when no detector fires, a partly hidden face takes the best "
                          "centred HOG window, any other the whole image.")
UPSAMPLE = typer.Option(None, "--upsample", min=0, max=4, help="Double the image N times before detecting (small faces).")
DETECTOR = typer.Option(None, "--detector", help="hog (fast) or cnn (finds harder faces, ~20x slower).")
THRESHOLD = typer.Option(None, "--threshold", min=0.0, help="Distance threshold for this call [default: the gallery's].")


@app.command()
def detect(
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    upsample: Optional[int] = UPSAMPLE,
    detector: Optional[str] = DETECTOR,
    landmarks: int = typer.Option(5, "--landmarks", help="5 or 68 landmark points."),
    chips: Optional[Path] = typer.Option(None, "--chips", help="Folder to save the aligned 150x150 face chips to."),
    json_out: bool = JSON,
) -> None:
    """Find faces: boxes with scores, landmarks, and optionally the aligned chips."""
    from sightkit.core.fileio import atomic_write_bytes
    from sightkit.core.images import load_image
    from sightkit.tasks.face.pipeline import FaceOptions, as_rgb_array, find_faces

    options = FaceOptions(**_given(upsample=upsample, detector=detector), landmarks=landmarks, fill_occluders=False)
    rows = []
    for path in _expand(images):
        faces = find_faces(as_rgb_array(load_image(path)), options)
        for i, face in enumerate(faces):
            if chips:
                chips.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(chips / f"{path.stem}_face{i}.png", _png(face.chip))
            rows.append({"image": str(path), **face.to_dict()})
        if not faces:
            rows.append({"image": str(path), "faces": 0})
    if json_out:
        print_json(rows)
        return
    _table(["image", "left", "top", "right", "bottom", "score", "detector"], rows)


@app.command()
def enroll(
    name: str = typer.Argument(..., help="The person's name."),
    images: list[str] = typer.Argument(..., help="Images of this person (files, folders or globs)."),
    gallery: Path = GALLERY,
    pick: Optional[str] = typer.Option(None, "--pick", help="'largest': use the largest face when an image has several."),
    replace: bool = typer.Option(False, "--replace", help="Replace the person's earlier images instead of adding."),
    keep_images: bool = typer.Option(False, "--keep-images", help="New gallery: also store aligned face chips."),
    ladder: bool = typer.Option(True, "--ladder/--no-ladder", help="New gallery: store low-resolution views too."),
    crops: Optional[bool] = CROPS,
    upsample: Optional[int] = UPSAMPLE,
    json_out: bool = JSON,
) -> None:
    """Enroll a person from one or more images (each must show exactly one face)."""
    gal = _open(gallery, create=True, crops=crops, upsample=upsample, keep_images=keep_images, ladder=ladder)
    paths = _expand(images)
    with progress_bar("enrolling", len(paths), enabled=not json_out) as advance:
        result = gal.enroll(name, paths, pick=pick, replace=replace, progress=advance)
    if json_out:
        print_json(result)
        return
    status(f"{result['name']}: {result['images']} images, {result['embeddings']} embeddings in {gallery}")


@app.command()
def identify(
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    gallery: Path = GALLERY,
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Nearest people listed per face."),
    threshold: Optional[float] = THRESHOLD,
    crops: Optional[bool] = CROPS,
    upsample: Optional[int] = UPSAMPLE,
    detector: Optional[str] = DETECTOR,
    json_out: bool = JSON,
) -> None:
    """Name every face in each image ('unknown' beyond the threshold); unreadable images are listed."""
    from sightkit.errors import FaceError, ImageError

    gal = _open(gallery, create=False, crops=crops, upsample=upsample, detector=detector)
    rows: list[dict[str, Any]] = []
    failed = 0
    for path in _expand(images):
        try:
            faces = gal.identify(path, top_k=top_k, threshold=threshold)
        except (ImageError, FaceError) as exc:
            failed += 1
            rows.append({"image": str(path), "error": str(exc)})
            continue
        rows += [{**f.to_dict(), "image": str(path)} for f in faces] or [{"image": str(path), "faces": 0}]
    if json_out:
        print_json(rows)
    else:
        for row in rows:
            row["top"] = ", ".join(f"{m['name']} {m['distance']:.3f}" for m in row.get("top", []))
            row["box"] = _box(row.get("box"))
        _table(["image", "box", "name", "distance", "top", "error"], rows)
    if failed:
        status(f"{failed} image(s) could not be used")
        raise typer.Exit(1)


@app.command()
def verify(
    a: Path = typer.Argument(..., help="First image."),
    b: Path = typer.Argument(..., help="Second image."),
    gallery: Optional[Path] = typer.Option(None, "--gallery", "-g", help="Gallery whose threshold and options to use."),
    threshold: Optional[float] = THRESHOLD,
    pick: Optional[str] = typer.Option(None, "--pick", help="'largest' when an image has several faces."),
    crops: Optional[bool] = CROPS,
    json_out: bool = JSON,
) -> None:
    """Same person or not: the distance and the threshold used. Exit code 0 either way."""
    if gallery is None:
        from sightkit.tasks.face.api import verify_images
        from sightkit.tasks.face.calibration import DEFAULT_THRESHOLD
        from sightkit.tasks.face.pipeline import FaceOptions

        result = verify_images(a, b, options=FaceOptions(**_given(crops=crops)), pick=pick,
                               threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    else:
        result = _open(gallery, create=False, crops=crops).verify(a, b, threshold=threshold, pick=pick)
    if json_out:
        print_json(result.to_dict())
        return
    verdict = "same person" if result.same else "different people"
    typer.echo(f"{verdict} (distance {result.distance:.4f}, threshold {result.threshold:.4f})")


@app.command("list")
def list_people(gallery: Path = GALLERY, json_out: bool = JSON) -> None:
    """List enrolled people with their image and embedding counts."""
    gal = _open(gallery, create=False)
    people = [p.to_dict() for p in gal.people()]
    if json_out:
        print_json({"gallery": str(gallery), "threshold": gal.threshold, "people": people})
        return
    _table(["name", "images", "embeddings", "enrolled"], people)
    status(f"{len(people)} people; threshold {gal.threshold:.4f}")


@app.command()
def remove(name: str = typer.Argument(..., help="The person to delete."), gallery: Path = GALLERY,
           json_out: bool = JSON) -> None:
    """Delete a person and all their embeddings for good."""
    removed = _open(gallery, create=False).remove(name)
    if json_out:
        print_json({"name": name, "embeddings_removed": removed})
        return
    status(f"removed {name} ({removed} embeddings)")


@app.command()
def calibrate(
    data: Path = typer.Argument(..., help="Folder with one subfolder of images per person."),
    gallery: Path = GALLERY,
    far: float = typer.Option(1e-3, "--far", min=1e-6, max=0.5, help="Target false accept rate of the threshold."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder [default: runs/face-calibrate-DATA]."),
    crops: bool = typer.Option(True, "--crops/--no-crops", help="Images are face crops."),
    json_out: bool = JSON,
) -> None:
    """Genuine/impostor distances, ROC, EER, TAR at FAR 1e-2/1e-3; stores the recommended threshold."""
    import numpy as np

    from sightkit.core.report import write_report
    from sightkit.tasks.face.calibration import calibrate as calibrate_pairs, pair_distances
    from sightkit.tasks.face.evaluate import load_faces, probe_faces, read_face_image
    from sightkit.tasks.face.plots import distance_histogram, roc_curve

    gal = _open(gallery, create=False, crops=crops)
    paths, names, _ = load_faces(data)
    with progress_bar("describing", len(paths), enabled=not json_out) as advance:
        faces = probe_faces([read_face_image(p) for p in paths], gal.options, advance)
    keep = [i for i, f in enumerate(faces) if f is not None]
    genuine, impostor = pair_distances(np.stack([faces[i].embedding for i in keep]), [names[i] for i in keep])
    result = calibrate_pairs(genuine, impostor, far)
    gal.set_threshold(result["threshold"], {k: v for k, v in result.items() if not isinstance(v, list)})
    out = out or Path("runs") / f"face-calibrate-{data.name}"
    figures = {"roc": roc_curve(genuine, impostor), "distances": distance_histogram(genuine, impostor, result["threshold"])}
    result["report_html"] = str(write_report(out, result, figures, f"face calibration: {data.name}"))
    if json_out:
        print_json(result)
        return
    _table(["metric", "value"], [{"metric": k, "value": v} for k, v in result.items()])
    status(f"threshold {result['threshold']:.4f} stored in {gallery}")


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="Folder with one subfolder of images per person."),
    enroll: int = typer.Option(1, "--enroll", min=1, help="Enrollment images per person; the rest are probes."),
    unknown: Optional[int] = typer.Option(None, "--unknown", min=0, help="People left out for the open set [default: 1/4]."),
    degrade: bool = typer.Option(False, "--degrade", help="Also run the robustness protocol (low-res, occlusion, ...)."),
    match: str = typer.Option("nearest", "--match", help="nearest|mean: a person's closest or mean embedding."),
    ladder: bool = typer.Option(True, "--ladder/--no-ladder", help="Match small faces against low-resolution views."),
    crops: bool = typer.Option(True, "--crops/--no-crops", help="Images are face crops."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder [default: runs/face-eval-DATA]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the degradations."),
    json_out: bool = JSON,
) -> None:
    """Closed-set rank-1/5, open-set DIR at 1% false alarms, verification ROC/EER; report.html."""
    from sightkit.tasks.face.degrade import CONDITIONS
    from sightkit.tasks.face.evaluate import evaluate_dataset, load_faces
    from sightkit.tasks.face.pipeline import FaceOptions

    n_images = len(load_faces(data)[0])
    total = n_images * (len(CONDITIONS) if degrade else 1)
    with progress_bar("evaluating", total, enabled=not json_out) as advance:
        report = evaluate_dataset(data, out or Path("runs") / f"face-eval-{data.name}", enroll=enroll, unknown=unknown,
                                  degrade_probes=degrade, options=FaceOptions(crops=crops), ladder=ladder, match=match,
                                  seed=seed, progress=advance)
    figures = {k: report[k] for k in ("rank1", "rank5", "dir_at_far_1pct", "eer", "probes")}
    figures.update({f"{c}_rank1": r["rank1"] for c, r in report.get("degrade", {}).items()})
    if json_out:
        print_json({**figures, "report_html": report["report_html"]})
        return
    _table(["metric", "value"], [{"metric": k, "value": v} for k, v in figures.items()])
    err_console.print(f"report: {report['report_html']}")


def _open(path: Path, create: bool, keep_images: bool = False, ladder: bool = True, **overrides: Any):
    """Open (or create) a gallery; CLI options that were given override its stored face options."""
    from dataclasses import replace

    from sightkit.tasks.face.api import FaceGallery
    from sightkit.tasks.face.pipeline import FaceOptions

    given = _given(**overrides)
    gal = FaceGallery(path, create=create, options=FaceOptions(**given) if create and given else None,
                      keep_images=keep_images, ladder=ladder)
    if given:
        gal.options = replace(gal.options, **given)
    return gal


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _expand(items: list[str]) -> list[Path]:
    """Files, folders (their image files, sorted) and globs, in the order given."""
    from sightkit.core.images import is_image_file
    from sightkit.errors import ImageError

    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        elif any(c in item for c in "*?["):
            paths += sorted(Path(p) for p in glob.glob(item, recursive=True) if is_image_file(p))
        else:
            paths.append(path)
    if not paths:
        raise ImageError(f"no image files in {' '.join(items)}")
    return paths


def _png(chip) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="PNG")
    return buffer.getvalue()


def _box(box: dict | None) -> str:
    return "" if not box else f"{box['left']},{box['top']},{box['right']},{box['bottom']}"


def _table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*[_cell(row.get(c, "")) for c in columns])
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)
