"""Settings shared by every asset: where the data lives and where MSR-VTT comes from."""


import os
from pathlib import Path

import dagster as dg

from prep_platform.lib.msr_vtt_download import DEFAULT_REPO_ID

# The one setting that switches the demo (embedded sample, offline) to the real Hugging Face data: `hub`.
SOURCE_ENV = "PREP_PLATFORM_MSR_VTT_SOURCE"
DATA_ROOT_ENV = "PREP_PLATFORM_DATA_ROOT"


class PrepPlatformSettings(dg.ConfigurableResource):
    """Data root and MSR-VTT source. Built from PREP_PLATFORM_* environment variables by `from_env`."""

    data_root: str = "data"
    msr_vtt_source: str = "sample"
    msr_vtt_repo_id: str = DEFAULT_REPO_ID
    msr_vtt_revision: str = "main"

    @classmethod
    def from_env(cls) -> "PrepPlatformSettings":
        return cls(
            data_root=os.environ.get(DATA_ROOT_ENV, "data"),
            msr_vtt_source=os.environ.get(SOURCE_ENV, "sample"),
        )

    @property
    def root(self) -> Path:
        return Path(self.data_root)

    @property
    def msr_vtt_dir(self) -> Path:
        return self.root / "raw" / "msr-vtt"

    @property
    def scenario_metadata_path(self) -> Path:
        return self.root / "metadata" / "scenario_metadata.json"

    @property
    def prepared_dir(self) -> str:
        return (self.root / "prepared").as_posix()
