"""One data root prepared end to end on the embedded sample (once per session), and a private copy per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prep_platform.lib.settings import PrepSettings
from prep_platform_tests.support.prepared import prepare_sample_root


@pytest.fixture(scope="session")
def prepared_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prepared")
    prepare_sample_root(root)
    return root


def prepare_settings(root: Path, **values) -> PrepSettings:
    # The copied metadata names the original root's paths; the layout (not the metadata) decides where files are.
    return PrepSettings(**{"data_root": str(root), "msr_vtt_source": "sample", "frame_size": "144x96", "frames": 9,
                           "workers": 0, "augment": True, "msr_vtt_limit": 16, "export_split": "all", **values})


@pytest.fixture
def settings(prepared_root, tmp_path) -> PrepSettings:
    """A private copy of the prepared root (exports write into it)."""
    root = tmp_path / "data"
    shutil.copytree(prepared_root, root, symlinks=True)
    return prepare_settings(root)
