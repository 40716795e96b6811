"""The export-format protocol: every registered format meets it, a module that does not is refused naming what it
lacks, and the generic export code names no format."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import prep_platform.lib.exports.collect as collect
import prep_platform.lib.exports.export as export
from prep_platform.lib.exports.formats import FORMATS, ExportFormat, registry


def test_every_registered_format_meets_the_protocol_under_its_own_name():
    assert set(FORMATS) == {"cogvideox-factory", "cogvideo-finetune", "finetrainers", "diffusers-videos"}
    assert all(isinstance(module, ExportFormat) and module.NAME == name for name, module in FORMATS.items())


def test_a_module_that_is_not_a_format_is_refused_naming_what_it_lacks():
    half = types.ModuleType("half_format")
    half.NAME, half.NEEDS_EMBEDDINGS, half.NEEDS_IMAGES, half.LOSSY = "half", False, False, False
    half.write = half.options = half.launch = lambda *args, **kwargs: None
    with pytest.raises(TypeError, match="'half_format' is not an export format: it lacks problems"):
        registry(half)


def test_the_generic_export_code_names_no_format():
    for module in (export, collect):
        code = Path(module.__file__).read_text()
        body = code.split('"""', 2)[-1]  # the module docstring aside
        named = [name for name in FORMATS if f'"{name}"' in body or f"'{name}'" in body]
        assert named == [], f"{module.__name__} special-cases {named}"
