"""The demo sample is given to the pipeline by the shells (lib never imports it): a `sample` source without one is
refused in one line before anything is fetched."""

from __future__ import annotations

from pathlib import Path

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


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_with_a_sample_cache_each_part_is_generated_once_and_copied_whole(tmp_path, monkeypatch):
    """PREP_PLATFORM_SAMPLE_CACHE: the part is generated in the cache once; each data root gets a copy with the same
    bytes as a generation in place; a whole, current copy is left as it is; a copy cut short (no stamp) is made
    again; without the variable nothing is written outside the folder asked for."""
    from prep_platform import samples

    monkeypatch.delenv(samples.SAMPLE_CACHE_VARIABLE, raising=False)
    in_place = DEMO_SAMPLE.panda_files(tmp_path / "in-place")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-place"]

    cache = tmp_path / "cache"
    monkeypatch.setenv(samples.SAMPLE_CACHE_VARIABLE, str(cache))
    first = DEMO_SAMPLE.panda_files(tmp_path / "root1" / "panda")
    kept = cache / f"panda-70m-{samples._generator_key()}"
    assert _files(first) == _files(kept) == _files(in_place)
    (kept / ".sample.csv.4242-0badcafe-12345678.tmp").write_bytes(b"a writer killed mid-write left this")
    generated_at = {p: p.stat().st_mtime_ns for p in kept.rglob("*")}

    second = DEMO_SAMPLE.panda_files(tmp_path / "root2" / "panda")
    assert _files(second) == _files(in_place)
    assert {p: p.stat().st_mtime_ns for p in kept.rglob("*")} == generated_at  # not generated again
    copied_at = {p: p.stat().st_mtime_ns for p in second.rglob("*")}
    DEMO_SAMPLE.panda_files(second)
    assert {p: p.stat().st_mtime_ns for p in second.rglob("*")} == copied_at  # whole and current: left alone

    (second / samples.STAMP).unlink()  # a copy cut short before its stamp
    victim = next(p for p in sorted(second.rglob("*")) if p.is_file())
    victim.write_bytes(b"half")
    DEMO_SAMPLE.panda_files(second)
    assert _files(second) == _files(in_place)


def test_the_sample_cache_key_follows_the_generating_code(tmp_path, monkeypatch):
    from prep_platform import samples

    before = samples._generator_key()
    code = tmp_path / "samples"
    code.mkdir()
    for source in Path(samples.__file__).parent.glob("*.py"):
        (code / source.name).write_bytes(source.read_bytes())
    (code.parent / "lib").mkdir()
    (code.parent / "lib" / "msr_vtt_categories.py").write_bytes(
        (Path(samples.__file__).parents[1] / "lib" / "msr_vtt_categories.py").read_bytes())
    monkeypatch.setattr(samples, "__file__", str(code / "__init__.py"))
    assert samples._generator_key() == before  # the same code elsewhere: the same key
    (code / "vatex.py").write_text((code / "vatex.py").read_text() + "\n# changed\n")
    assert samples._generator_key() != before
