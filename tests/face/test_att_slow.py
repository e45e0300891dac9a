"""End-to-end accuracy on AT&T faces from ../shared (skipped when the data is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ATT = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "att_faces"


@pytest.mark.slow
@pytest.mark.skipif(not ATT.is_dir(), reason="needs ../shared/data/faces/att_faces")
def test_att_closed_set_rank1(tmp_path):
    from sightkit.tasks.face.evaluate import evaluate_dataset

    report = evaluate_dataset(ATT, tmp_path / "eval", enroll=1, ladder=False)
    assert report["rank1"] >= 0.99
    assert report["open_set"]["impostor_probes"] == 90
