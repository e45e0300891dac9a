"""Fixtures of the deploy tests (see ``deploy_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import bundle_meta, train_tiny, write_colour_dataset

from sightkit.core.bundle import save_bundle


@pytest.fixture(scope="session")
def colour_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The colour dataset (train/ and val/ class folders)."""
    return write_colour_dataset(tmp_path_factory.mktemp("colour") / "data")


@pytest.fixture(scope="session")
def tiny_bundle(colour_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``skcnn_tiny`` bundle trained on ``colour_data`` (100% on its val split)."""
    model = train_tiny(colour_data)
    return save_bundle(tmp_path_factory.mktemp("bundles") / "tiny", model.state_dict(),
                       bundle_meta(data=colour_data))
