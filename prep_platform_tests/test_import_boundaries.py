"""The house's layering, checked by importing: the core (`lib/`) never loads Dagster, the command-line tools never
load the Dagster definitions, and the layout (every path) and the settings load without the video stack, numpy or
the Hub client."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import prep_platform.data_prep
import prep_platform.lib


def _modules(package) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


def _loaded_after_importing(modules: list[str], watched: list[str]) -> dict[str, list[str]]:
    """For each module, imported in turn in one fresh interpreter: which of `watched` are loaded once it is (a
    module that loads one shows it, and so do the ones after it: the test names the first)."""
    script = (
        "import importlib, json, sys\n"
        f"modules, watched = {modules!r}, {watched!r}\n"
        "found = {}\n"
        "for name in modules:\n"
        "    importlib.import_module(name)\n"
        "    found[name] = sorted(w for w in watched if any(m == w or m.startswith(w + '.') for m in sys.modules))\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_core_never_loads_dagster():
    modules = _modules(prep_platform.lib)
    assert len(modules) > 40
    loaded = _loaded_after_importing(modules, ["dagster", "prep_platform.defs"])
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_command_line_tools_never_load_the_dagster_definitions():
    loaded = _loaded_after_importing(_modules(prep_platform.data_prep), ["prep_platform.defs", "dagster"])
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_layout_and_the_settings_load_without_the_video_stack_or_the_hub_client():
    heavy = ["av", "cv2", "numpy", "torch", "pyarrow", "huggingface_hub"]
    loaded = _loaded_after_importing(["prep_platform.lib.layout", "prep_platform.lib.settings"], heavy)
    assert loaded == {"prep_platform.lib.layout": [], "prep_platform.lib.settings": []}


def test_the_sources_and_the_models_never_load_the_sample_code():
    """The sources read release folders; the tiny text encoder receives its tokenizer (the demo's words are the
    sample's): only the pipeline places demo data."""
    import prep_platform.lib.models
    import prep_platform.lib.sources

    modules = _modules(prep_platform.lib.sources) + _modules(prep_platform.lib.models) + ["prep_platform.lib.scenarios"]
    loaded = _loaded_after_importing(modules, ["prep_platform.samples"])
    assert {name: found for name, found in loaded.items() if found} == {}
