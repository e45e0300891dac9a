"""Faces in whole photos and in crops: sightkit's default against the plain dlib pipeline, on two datasets.

The issue's protocol: 1 enrollment photo per person (seeded), the other photos probe,
each degraded as a whole photo (``sightkit.tasks.face.degrade``): shrunk, background and
all, until the face in it is 32 / 24 / 16 px tall (the face's height from dlib's HOG box in
the clean photo), or 20% / 35% of the photo blacked out; rank-1 over the enrolled people;
a probe in which no face is found counts as a miss. ``--protocol image`` shrinks the
photo itself to 32 / 24 / 16 px tall instead (the crop protocol of ``benchmarks/faces.py``;
the same thing for att_faces' crops).

- ``att_faces``: 40 people, tight 92x112 grey crops;
- ``gt_db``: 50 people, 320x240 colour frames with background (the face about a quarter of
  the frame width).

Pipelines, each as a user gets it:

- ``plain``: dlib's pipeline with nothing added, as the ``face_recognition`` package runs it
  (HOG on the photo enlarged once, its default ``number_of_times_to_upsample=1``; bicubic
  upscale of photos under 112 px tall first; the whole image as the face when HOG finds
  none; no ladder);
- ``default``: ``sightkit face identify`` with no flags;
- ``crops``: with ``--crops``;
- ``learned-fill``: the default with the part of an occluder whose mirror image is hidden too
  filled by the shipped face inpainting model instead of harmonic inpainting
  (``FaceOptions(occluder_fill="learned")``);
- ``no-keep-images``: the default with a gallery made with ``--no-keep-images`` (descriptors
  only), so occluded probes are not matched occlusion-consistently
  (``sightkit.tasks.face.occlusion``). Until 2026-12-02 this was the default gallery:
  ``results/faces_frame.json``'s ``default`` and ``crops`` rows were measured this way,
  ``results/faces_frame_keep_images.json`` holds the default with chips (then ``keep-images``).

    nice -n 10 python benchmarks/faces_frame.py                  # both datasets, every pipeline
    python benchmarks/faces_frame.py --probes 2 --datasets gt_db  # quicker

att_faces uses the image protocol (its photos are crops: the figures of ``benchmarks/faces.py``),
gt_db the frame protocol.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import SHARED_DATA, write_result

CONDITIONS = ("clean", "lowres32", "lowres24", "lowres16", "occlusion20", "occlusion35")
DATASETS = ("att_faces", "gt_db")


KEEPS_CHIPS = {"default", "crops", "learned-fill"}  # galleries that keep the aligned enrollment chips, as new galleries do


def pipelines() -> dict[str, tuple[object, bool]]:
    """name -> (FaceOptions, ladder) of each pipeline compared (:data:`KEEPS_CHIPS`: galleries with chips)."""
    from sightkit.tasks.face.pipeline import FaceOptions

    plain = FaceOptions(upsample=1, crops=True, fallback=False, flip=False, fill_occluders=False, probe_jitter=False,
                        refine_landmarks=False, weak_window=False)
    return {"plain": (plain, False), "default": (FaceOptions(), True), "crops": (FaceOptions(crops=True), True),
            "learned-fill": (FaceOptions(occluder_fill="learned"), True), "no-keep-images": (FaceOptions(), True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--pipelines", default="plain,default,crops")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--probes", type=int, default=4, help="probe photos per person (seeded choice)")
    parser.add_argument("--people", type=int, default=0, help="only the first N people (0: all)")
    parser.add_argument("--protocol", choices=("auto", "frame", "image"), default="auto",
                        help="auto: image for att_faces' crops, frame for gt_db's photos")
    parser.add_argument("--name", default="faces_frame")
    args = parser.parse_args()
    chosen = {name: spec for name, spec in pipelines().items() if name in args.pipelines.split(",")}
    results = {}
    for dataset in args.datasets.split(","):
        root = SHARED_DATA / "faces" / dataset
        if not root.is_dir():
            print(f"skipped {dataset}: {root} is missing")
            continue
        protocol = args.protocol if args.protocol != "auto" else ("image" if dataset == "att_faces" else "frame")
        results[dataset] = run_dataset(root, chosen, args.conditions.split(","), args.probes, args.people, protocol)
    write_result(args.name, {"protocol": "1 enrollment photo per person (seed 0), up to --probes other photos per "
                             "person as probes, each degraded as a whole photo (frame: shrunk until the face is N px "
                             "tall; image: shrunk to N px tall); rank-1, no face = miss",
                             "probes_per_person": args.probes, "results": results})


def run_dataset(root: Path, chosen: dict, conditions: list[str], probes_per_person: int, people: int,
                protocol: str) -> dict:
    from sightkit.tasks.face.degrade import degrade
    from sightkit.tasks.face.evaluate import (closed_set, face_height, gallery_embeddings, load_faces, probe_faces,
                                              rank_people, read_face_image, split_people)
    from sightkit.tasks.face.pipeline import as_rgb_array

    paths, names, _ = load_faces(root)
    if people:
        keep = sorted(set(names))[:people]
        paths, names = zip(*[(p, n) for p, n in zip(paths, names) if n in keep])
    split = split_people(names, enroll=1, unknown=0, seed=0)
    rng = np.random.default_rng(0)
    probes = []
    for person in sorted(set(names)):
        own = [i for i in split.probes if names[i] == person]
        probes += sorted(rng.choice(own, size=min(probes_per_person, len(own)), replace=False).tolist())
    images = {i: read_face_image(paths[i]) for i in [*split.enroll, *probes]}
    truth = [names[i] for i in probes]
    heights = {i: face_height(images[i]) if protocol == "frame" else None for i in probes}
    out = {"protocol": protocol, "people": len(set(names)), "probes": len(probes), "image_size": list(images[probes[0]].shape[1::-1])}
    for name, (options, ladder) in chosen.items():
        start = time.perf_counter()
        chips = {} if name in KEEPS_CHIPS else None
        gallery = gallery_embeddings([images[i] for i in split.enroll], [names[i] for i in split.enroll], options,
                                     ladder, chips=chips)
        row = {}
        for condition in conditions:
            degraded = [as_rgb_array(degrade(Image.fromarray(images[i]), condition, 0, i, heights[i])) for i in probes]
            faces = probe_faces(degraded, options)
            found = closed_set(rank_people(gallery, faces, ladder, chips=chips, flip=options.flip), truth)
            row[condition] = {"rank1": round(found["rank1"], 4), "no_face": found["no_face"]}
        out[name] = {"rank1": row, "seconds": round(time.perf_counter() - start, 1)}
        print(root.name, name, {c: r["rank1"] for c, r in row.items()}, flush=True)
    return out


if __name__ == "__main__":
    main()
