"""Training from WebDataset shards reaches the accuracy of training from the image folder (scikit-learn digits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightkit import Classifier
from sightkit.data.samples import export_digits
from sightkit.data.shards import write_shards

# Both runs see the same images per epoch in another order (the folder loader shuffles images, the shard
# loader shuffles shards and a buffer), so their test accuracies differ a little, not systematically.
TOLERANCE = 0.04
OPTIONS = {"model": "skcnn_tiny", "epochs": 8, "batch_size": 64, "hflip": False, "progress": False, "workers": 0}


@pytest.mark.slow  # two 8-epoch trainings on 1,150 digits: ~1-2 minutes on 2 shared cores
def test_shards_train_as_well_as_the_folder(tmp_path: Path):
    digits = export_digits(tmp_path / "digits", test_fraction=0.2, seed=0)
    write_shards(digits, tmp_path / "shards", shard_size=200)  # the same val split as training carves out
    folder = Classifier.train(digits, out=tmp_path / "folder-run", **OPTIONS)
    sharded = Classifier.train(tmp_path / "shards", out=tmp_path / "shard-run", **OPTIONS)
    assert folder.report["split"] == sharded.report["split"] == "test"
    assert folder.report["n"] == sharded.report["n"] == 360
    assert folder.report["accuracy"] > 0.9
    assert abs(folder.report["accuracy"] - sharded.report["accuracy"]) <= TOLERANCE
