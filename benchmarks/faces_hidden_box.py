"""Where to fit the landmarks of a partly hidden face in a crop, checked on a face outside att_faces.

``benchmarks/faces.py`` measures the centred weak HOG window (``detect.centred_weak_box``)
on att_faces, whose crops are tight. This script checks it on scikit-image's astronaut,
cut out four ways (tight, with a wide margin, off centre, small), each with 60 seeded
random black boxes over 35% of the crop (the ``occlusion35`` protocol). On the crops
where no detector fires after the box is filled, it compares the 5-point landmark error
(mean distance to the landmarks of the clean crop, in eye distances) of the box the
pipeline takes (the weak window if there is one, else the whole crop) with the whole
crop alone.

    python benchmarks/faces_hidden_box.py
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from _common import write_result

CROPS = {"tight": (40, 210, 140, 300), "wide margin": (0, 260, 100, 340), "off centre": (30, 200, 120, 290),
         "small": (60, 190, 150, 280)}
OCCLUSIONS = 60


def main() -> None:
    from skimage import data

    from sightkit.tasks.face.align import fit_landmarks, landmark_points
    from sightkit.tasks.face.degrade import degrade
    from sightkit.tasks.face.detect import centred_weak_box, detect_faces, whole_image_box
    from sightkit.tasks.face.pipeline import FaceOptions, find_faces
    from sightkit.tasks.face.restore import fill_occluder, find_occluder

    astronaut = data.astronaut()
    result = {"occlusions_per_crop": OCCLUSIONS, "crops": {}}
    for name, (top, bottom, left, right) in CROPS.items():
        crop = np.ascontiguousarray(astronaut[top:bottom, left:right])
        reference = find_faces(crop, FaceOptions(crops=True, refine_landmarks=False))[0].landmarks
        eye = np.linalg.norm(reference[0:2].mean(axis=0) - reference[2:4].mean(axis=0))
        whole_errors, chosen_errors, windows = [], [], 0
        for index in range(OCCLUSIONS):
            hidden = np.asarray(degrade(Image.fromarray(crop), "occlusion35", 0, index))
            occluder = find_occluder(hidden)
            if occluder is None:
                continue
            work = np.ascontiguousarray(fill_occluder(hidden, occluder, hidden.shape[1] / 2))
            if detect_faces(work, "hog", fallback=True):
                continue

            def error(box):
                points = landmark_points(fit_landmarks(work, box, 5))
                return float(np.linalg.norm(points - reference, axis=1).mean() / eye)

            whole = whole_image_box(work)
            window = centred_weak_box(work)
            windows += window is not None
            whole_errors.append(error(whole))
            chosen_errors.append(error(window or whole))
        result["crops"][name] = {
            "size": list(crop.shape[:2]), "no_detection": len(whole_errors), "weak_window_found": windows,
            "landmark_error_whole_crop": round(float(np.mean(whole_errors)), 3),
            "landmark_error_pipeline": round(float(np.mean(chosen_errors)), 3)}
        print(name, result["crops"][name], flush=True)
    write_result("faces_hidden_box", result)


if __name__ == "__main__":
    main()
