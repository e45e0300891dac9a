"""``sightkit face detect|enroll|identify|verify|list|remove|calibrate|evaluate``: face recognition."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Optional

import typer

from sightkit.cli._face_tables import print_table, uncalibrated_note
from sightkit.cli._paths import relative_names
from sightkit.cli._output import err_console, print_json, progress_bar, status

app = typer.Typer(help="Detect, enroll, identify and verify faces; calibrate and evaluate.", no_args_is_help=True)

GALLERY = typer.Option(..., "--gallery", "-g", help="Gallery file (SQLite), e.g. people.db.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
CROPS = typer.Option(None, "--crops/--no-crops",
                     help="Images are face crops: when no detector fires, a partly hidden face takes the best "
                          "centred HOG window, any other the whole image. "
                          "\\[default: the gallery's; off for a new one]")
UPSAMPLE = typer.Option(None, "--upsample", min=0, max=4,
                        help="Double the image N times before detecting (small faces). "
                             "\\[default: the gallery's; 0 for a new one]")
DETECTOR = typer.Option(None, "--detector",
                        help="hog (fast; a miss is retried with cnn) or cnn (finds harder faces, ~20x slower). "
                             "\\[default: the gallery's; hog for a new one]")
THRESHOLD = typer.Option(None, "--threshold", min=0.0,
                         help="Distance threshold for this call. \\[default: the gallery's]")
PICK = typer.Option(None, "--pick", help="largest: use the largest face when an image has several. "
                                         "\\[default: refuse such images]")


@app.command()
def detect(
    images: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    upsample: int = typer.Option(0, "--upsample", min=0, max=4, help="Double the image N times before detecting."),
    detector: str = typer.Option("hog", "--detector", help="hog (fast; a miss is retried with cnn) or cnn."),
    landmarks: int = typer.Option(5, "--landmarks", help="5 or 68 landmark points."),
    chips: Optional[Path] = typer.Option(None, "--chips", help="Folder to save the aligned 150x150 face chips to."),
    json_out: bool = JSON,
) -> None:
    """Find faces: boxes with scores, landmarks, and optionally the aligned chips.

    An image without a face is listed as 'no face found' (exit code 0); an unreadable one gives exit code 1.
    """
    from sightkit.core.fileio import atomic_write_bytes
    from sightkit.core.images import load_image
    from sightkit.errors import ImageError
    from sightkit.tasks.face.pipeline import FaceOptions, as_rgb_array, find_faces

    options = FaceOptions(upsample=upsample, detector=detector, landmarks=landmarks, fill_occluders=False)
    paths = _expand(images)
    results = []
    with progress_bar("detecting", len(paths), enabled=not json_out) as advance:
        for path in paths:
            try:
                faces = find_faces(as_rgb_array(load_image(path)), options)
            except ImageError as exc:
                faces, error = [], {"error": str(exc)}
            else:
                error = _no_face(faces)
            for i, face in enumerate(faces):
                if chips:
                    chips.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(chips / f"{path.stem}_face{i}.png", _png(face.chip))
            results.append({"image": str(path), "faces": [face.to_dict() for face in faces], **error})
            advance(1)
    if json_out:
        print_json({"images": results})
    else:
        rows = [{**face, "image": name, "box": _box(face) if "left" in face else ""}
                for name, result in zip(relative_names([str(p) for p in paths]).names, results) for face in result["faces"] or [_note_row(result)]]
        print_table(["image", "box", "score", "detector", "note"], rows)
    _exit_if_failed(results)


@app.command()
def enroll(
    name: Optional[str] = typer.Argument(None, help="The person's name (not with --from-folders)."),
    images: Optional[list[str]] = typer.Argument(None, help="Images of this person (files, folders or globs); "
                                                            "each must show one usable face."),
    gallery: Path = GALLERY,
    from_folders: Optional[Path] = typer.Option(
        None, "--from-folders", help="Enroll everyone in a folder with one subfolder of images per person "
                                     "(FOLDER/<name>/*); images without one usable face are skipped and listed."),
    pick: Optional[str] = PICK,
    replace: bool = typer.Option(False, "--replace", help="Replace each person's earlier images instead of adding."),
    keep_images: bool = typer.Option(True, "--keep-images/--no-keep-images",
                                     help="New gallery: store the aligned 150 px face chips, so partly hidden faces "
                                          "are matched occlusion-consistently; --no-keep-images stores descriptors "
                                          "only (no face pixels)."),
    ladder: bool = typer.Option(True, "--ladder/--no-ladder", help="New gallery: store low-resolution views too."),
    crops: Optional[bool] = CROPS,
    upsample: Optional[int] = UPSAMPLE,
    json_out: bool = JSON,
) -> None:
    """Enroll a person from images (NAME IMAGES), or everyone in a folder (--from-folders). Exit code 1 if
    someone in the folder had no usable image."""
    from sightkit.errors import ConfigError, DataError
    from sightkit.tasks.face.evaluate import people_folders
    from sightkit.tasks.face.predict import check_pick

    check_pick(pick)
    if from_folders is not None and (name or images):
        raise ConfigError("give NAME IMAGES or --from-folders FOLDER, not both")
    if from_folders is None and not (name and images):
        raise ConfigError("give the person's NAME and IMAGES, or --from-folders FOLDER")
    if from_folders is not None and not from_folders.is_dir():
        raise DataError(f"--from-folders {from_folders}: not a folder; give a folder with one subfolder of images "
                        "per person")
    gal = _open(gallery, create=True, crops=crops, upsample=upsample, keep_images=keep_images, ladder=ladder)
    people = people_folders(from_folders) if from_folders is not None else {name: _expand(images)}
    total = sum(len(files) for files in people.values())
    with progress_bar("enrolling", total, enabled=not json_out) as advance:
        results = gal.enroll_many(people, pick=pick, replace=replace, progress=advance,
                                  skip_unusable=from_folders is not None)
    if json_out:
        print_json({**_threshold_info(gal, gallery, None), "people": [r.to_dict() for r in results]})
    else:
        print_table(["person", "enrolled", "skipped", "why"], [_enrollment_row(r) for r in results])
        status(f"{sum(r.enrolled for r in results)} images of {sum(bool(r.enrolled) for r in results)} people "
               f"enrolled in {gallery}")
    if not gal.calibrated:
        uncalibrated_note(gal.threshold, gallery)
    missing = [r.name for r in results if not r.enrolled]
    if missing:
        status(f"not enrolled, no usable image: {', '.join(missing)}")
        raise typer.Exit(1)


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
    """Name every face in each image ('unknown' beyond the threshold). An image without a face is a result
    ('no face found', exit code 0); an unreadable image is listed and gives exit code 1."""
    from sightkit.errors import FaceError, ImageError

    gal = _open(gallery, create=False, crops=crops, upsample=upsample, detector=detector)
    paths = _expand(images)
    if threshold is None and not gal.calibrated:
        uncalibrated_note(gal.threshold, gallery)
    results: list[dict[str, Any]] = []
    with progress_bar("identifying", len(paths), enabled=not json_out) as advance:
        for path in paths:
            try:
                faces = gal.identify(path, top_k=top_k, threshold=threshold)
            except (ImageError, FaceError) as exc:
                faces, error = [], {"error": str(exc)}
            else:
                error = _no_face(faces)
            found = [{k: v for k, v in face.to_dict().items() if k != "image"} for face in faces]
            results.append({"image": str(path), "faces": found, **error})
            advance(1)
    if json_out:
        print_json({**_threshold_info(gal, gallery, threshold), "images": results})
    else:
        rows = [{**face, "image": name, "box": _box(face.get("box")),
                 "nearest": ", ".join(f"{m['name']} {m['distance']:.3f}" for m in face.get("top", []))}
                for name, result in zip(relative_names([str(p) for p in paths]).names, results) for face in result["faces"] or [_note_row(result)]]
        print_table(["image", "box", "name", "nearest", "note"], rows)
    _exit_if_failed(results)


@app.command()
def verify(
    a: Path = typer.Argument(..., help="First image."),
    b: Path = typer.Argument(..., help="Second image."),
    gallery: Optional[Path] = typer.Option(None, "--gallery", "-g", help="Gallery whose threshold and options to use."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, help="Distance threshold for this call. "
                                              "\\[default: the gallery's, else dlib's 0.6]"),
    pick: Optional[str] = PICK,
    crops: Optional[bool] = CROPS,
    json_out: bool = JSON,
) -> None:
    """Same person or not: the distance and the threshold used. Exit code 0 either way."""
    from sightkit.tasks.face.api import verify_images
    from sightkit.tasks.face.calibration import DEFAULT_THRESHOLD
    from sightkit.tasks.face.pipeline import FaceOptions
    from sightkit.tasks.face.predict import check_pick

    check_pick(pick)
    if gallery is None:
        options = FaceOptions(**_given(crops=crops))
        calibrated, limit = False, DEFAULT_THRESHOLD if threshold is None else threshold
        result = verify_images(a, b, options=options, pick=pick, threshold=limit)
    else:
        gal = _open(gallery, create=False, crops=crops)
        calibrated = gal.calibrated
        result = gal.verify(a, b, threshold=threshold, pick=pick)
    if threshold is None and not calibrated:
        uncalibrated_note(result.threshold, gallery)
    if json_out:
        print_json({**result.to_dict(), "calibrated": calibrated})
        return
    verdict = "same person" if result.same else "different people"
    typer.echo(f"{verdict} (distance {result.distance:.4f}, threshold {result.threshold:.4f})")


@app.command("list")
def list_people(gallery: Path = GALLERY, json_out: bool = JSON) -> None:
    """List enrolled people with their image and embedding counts."""
    gal = _open(gallery, create=False)
    people = [p.to_dict() for p in gal.people()]
    if json_out:
        print_json({**_threshold_info(gal, gallery, None), "people": people})
        return
    print_table(["name", "images", "embeddings", "enrolled"], people)
    status(f"{len(people)} people; threshold {gal.threshold:.4f} ({'' if gal.calibrated else 'not '}calibrated)")


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
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder. \\[default: runs/face-calibrate-DATA]"),
    crops: Optional[bool] = CROPS,
    json_out: bool = JSON,
) -> None:
    """Genuine/impostor distances, ROC, EER, TAR at FAR 1e-2/1e-3; stores the recommended threshold."""
    import numpy as np

    from sightkit.core.report import write_report
    from sightkit.errors import DataError
    from sightkit.tasks.face.calibration import calibrate as calibrate_pairs, pair_distances
    from sightkit.tasks.face.evaluate import load_faces, probe_faces, read_face_image
    from sightkit.tasks.face.plots import distance_histogram, roc_curve

    gal = _open(gallery, create=False, crops=crops)
    paths, names, _ = load_faces(data)
    with progress_bar("describing", len(paths), enabled=not json_out) as advance:
        faces = probe_faces([read_face_image(p) for p in paths], gal.options, advance)
    keep = [i for i, f in enumerate(faces) if f is not None]
    if len(keep) < len(paths):
        status(f"{len(paths) - len(keep)} of {len(paths)} images showed no face and were left out")
    if not keep:
        raise DataError(f"DATA {data}: no face found in any image; pass --crops if the images are face crops")
    genuine, impostor = pair_distances(np.stack([faces[i].embedding for i in keep]), [names[i] for i in keep])
    result = calibrate_pairs(genuine, impostor, far)
    gal.set_threshold(result["threshold"], {k: v for k, v in result.items() if not isinstance(v, list)})
    out = out or Path("runs") / f"face-calibrate-{data.name}"
    figures = {"roc": roc_curve(genuine, impostor), "distances": distance_histogram(genuine, impostor, result["threshold"])}
    result["report_html"] = str(write_report(out, result, figures, f"face calibration: {data.name}"))
    if json_out:
        print_json(result)
        return
    print_table(["metric", "value"], [{"metric": k, "value": v} for k, v in result.items()])
    status(f"calibrated threshold {result['threshold']:.4f} stored in {gallery}")


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="Folder with one subfolder of images per person."),
    enroll: int = typer.Option(1, "--enroll", min=1, help="Enrollment images per person; the rest are probes."),
    unknown: Optional[int] = typer.Option(None, "--unknown", min=0,
                                          help="People left out for the open set. \\[default: a quarter of them]"),
    degrade: bool = typer.Option(False, "--degrade", help="Also run the robustness protocol (low-res, occlusion, ...)."),
    match: str = typer.Option("nearest", "--match", help="nearest or mean: a person's closest or mean embedding."),
    ladder: bool = typer.Option(True, "--ladder/--no-ladder", help="Match small faces against low-resolution views."),
    frame: bool = typer.Option(False, "--frame", help="With --degrade: shrink each whole photo until its face is "
                                                       "32/24/16 px tall, instead of the photo itself."),
    crops: Optional[bool] = typer.Option(None, "--crops/--no-crops",
                                         help="Images are face crops (or whole photos). \\[default: decided per image]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder. \\[default: runs/face-eval-DATA]"),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the degradations."),
    json_out: bool = JSON,
) -> None:
    """Closed-set rank-1/5, open-set DIR at 1% false alarms, verification ROC/EER; report.html."""
    from sightkit.errors import ConfigError
    from sightkit.tasks.face.degrade import CONDITIONS
    from sightkit.tasks.face.evaluate import evaluate_dataset, load_faces
    from sightkit.tasks.face.index import MATCH_MODES
    from sightkit.tasks.face.pipeline import FaceOptions

    if match not in MATCH_MODES:
        raise ConfigError(f"--match must be one of {', '.join(MATCH_MODES)}, not {match!r}")
    n_images = len(load_faces(data)[0])
    total = n_images * (len(CONDITIONS) if degrade else 1)
    with progress_bar("evaluating", total, enabled=not json_out) as advance:
        report = evaluate_dataset(data, out or Path("runs") / f"face-eval-{data.name}", enroll=enroll, unknown=unknown,
                                  degrade_probes=degrade, options=FaceOptions(crops=crops), ladder=ladder, match=match,
                                  seed=seed, progress=advance, frame=frame)
    figures = {k: report[k] for k in ("rank1", "rank5", "dir_at_far_1pct", "eer", "probes")}
    figures.update({f"{c}_rank1": r["rank1"] for c, r in report.get("degrade", {}).items()})
    if "degrade_protocol" in report:
        figures["degrade_protocol"] = report["degrade_protocol"]
    if json_out:
        print_json({**figures, "report_html": report["report_html"]})
        return
    print_table(["metric", "value"], [{"metric": k, "value": v} for k, v in figures.items()])
    err_console.print(f"report: {report['report_html']}")


def _open(path: Path, create: bool, keep_images: bool = True, ladder: bool = True, **overrides: Any):
    """Open (or, on first write, create) a gallery; CLI options that were given override its stored face options.

    The options are checked before the gallery is read.
    """
    from dataclasses import replace

    from sightkit.tasks.face.api import FaceGallery
    from sightkit.tasks.face.pipeline import FaceOptions

    given = _given(**overrides)
    options = FaceOptions(**given)
    gal = FaceGallery(path, create=create, options=options if given and not path.exists() else None,
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


def _no_face(faces: list) -> dict[str, str]:
    """``{"reason": "no face found"}`` for an image without faces, else nothing."""
    from sightkit.tasks.face.predict import NO_FACE

    return {} if faces else {"reason": NO_FACE}


def _note_row(result: dict[str, Any]) -> dict[str, str]:
    """The table row of an image without faces: why (no face, or its error without the repeated file name)."""
    error = result.get("error")
    return {"note": error.split(": ", 1)[-1] if error else result.get("reason", "")}


def _exit_if_failed(results: list[dict[str, Any]]) -> None:
    failed = sum("error" in result for result in results)
    if failed:
        status(f"{failed} image(s) could not be used")
        raise typer.Exit(1)


def _threshold_info(gal, gallery: Path, threshold: float | None) -> dict[str, Any]:
    """The gallery, the threshold in use and whether it was calibrated, for JSON output."""
    return {"gallery": str(gallery), "threshold": gal.threshold if threshold is None else threshold,
            "calibrated": gal.calibrated}


def _enrollment_row(result) -> dict[str, Any]:
    """A person's row of the enroll table: images enrolled and skipped, and why (file names grouped by reason)."""
    reasons: dict[str, list[str]] = {}
    for image, reason in result.skipped:
        reasons.setdefault(reason, []).append(image)
    why = "; ".join(f"{reason}: {', '.join(images)}" for reason, images in reasons.items())
    return {"person": result.name, "enrolled": result.enrolled, "skipped": len(result.skipped), "why": why}


def _png(chip) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="PNG")
    return buffer.getvalue()


def _box(box: dict | None) -> str:
    """``left,top,right,bottom`` of a box dict, or nothing."""
    return "" if not box else f"{box['left']},{box['top']},{box['right']},{box['bottom']}"
