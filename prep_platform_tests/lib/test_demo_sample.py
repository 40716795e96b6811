"""The demo sample is given to the pipeline by the shells (lib never imports it): a `sample` source without one is
refused in one line before anything is fetched."""

from __future__ import annotations

import pytest

from prep_platform.lib import pipeline
from prep_platform.lib.demo_sample import NoDemoSampleError
from prep_platform.lib.settings import PrepSettings
from prep_platform.samples import DEMO_SAMPLE


def test_a_sample_source_without_a_demo_sample_is_refused_in_one_line(tmp_path):
    settings = PrepSettings(data_root=str(tmp_path), msr_vtt_source="sample")
    layout = settings.layout()
    for step, what in ((pipeline.fetch_msr_vtt, "the MSR-VTT source is 'sample'"),
                       (pipeline.fetch_vatex, "the VATEX source is 'sample'"),
                       (pipeline.panda_instructions, "the Panda-70M sample is to be placed")):
        with pytest.raises(NoDemoSampleError) as refused:
            step(settings, layout)
        message = str(refused.value)
        assert message.startswith(what + ", but no demo sample was given") and "\n" not in message
        assert "prep_platform.samples.DEMO_SAMPLE" in message
    assert not layout.msr_vtt.root.exists() and not layout.vatex.root.exists()


def test_the_package_sample_writes_each_part(tmp_path):
    """DEMO_SAMPLE's writers are the sample package's generators: each returns the folder it wrote."""
    assert DEMO_SAMPLE.vatex_release(tmp_path / "vatex") == tmp_path / "vatex"
    assert (tmp_path / "vatex" / ".sample-version").exists()
