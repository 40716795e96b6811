"""The house's layering. Checked by importing: the core (`lib/`) never loads Dagster, the shells or the demo sample,
the command-line tools never load the Dagster definitions, and the layout (every path) and the settings load without
the video stack, numpy or the Hub client. Checked by reading every module's source (`ast`, nothing imported, so an
import inside a function or under TYPE_CHECKING counts too): the core imports no demo sample, no shell and no
Dagster; nothing in the package imports the tests; and the core's folders import each other without a cycle."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import prep_platform
import prep_platform.data_prep
import prep_platform.lib

PACKAGE = Path(prep_platform.__file__).resolve().parent


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


def test_the_core_never_loads_dagster_the_shells_or_the_sample():
    """The sources read release folders, the tiny text encoder builds its own tokenizer: the shells give the demo
    sample to the pipeline (prep_platform.samples.DEMO_SAMPLE), so no module of the core loads it."""
    modules = _modules(prep_platform.lib)
    assert len(modules) > 40
    loaded = _loaded_after_importing(
        modules, ["dagster", "prep_platform.defs", "prep_platform.data_prep", "prep_platform.samples"])
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_command_line_tools_never_load_the_dagster_definitions():
    loaded = _loaded_after_importing(_modules(prep_platform.data_prep), ["prep_platform.defs", "dagster"])
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_layout_and_the_settings_load_without_the_video_stack_or_the_hub_client():
    heavy = ["av", "cv2", "numpy", "torch", "pyarrow", "huggingface_hub"]
    loaded = _loaded_after_importing(["prep_platform.lib.layout", "prep_platform.lib.settings"], heavy)
    assert loaded == {"prep_platform.lib.layout": [], "prep_platform.lib.settings": []}


# --- the same rules read from the source ------------------------------------------------------------------------

# Calls that import the module named by their string argument(s).
IMPORTING_CALLS = {"import_module", "__import__", "find_spec", "run_module", "set_forkserver_preload"}
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


@dataclass(frozen=True)
class Use:
    """`module` (dotted) uses `target` (dotted) at `line`: `how` is import, importlib (a call that imports a named
    module), -m (a command line running it) or string (its dotted name in the code, docstrings aside)."""

    module: str
    line: int
    target: str
    how: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.how} {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def uses_of(path: Path, root: Path) -> list[Use]:
    """Every module `path` uses (`root`: the folder holding the top-level package): its imports anywhere in the file
    (relative ones resolved; `from a import b` is a.b when b is a module there, else a), calls that import a module
    by name, `-m <module>` in a command line, and code strings that are dotted names."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    prose = _docstrings(tree)  # and, below, the strings already read as an importlib or -m use
    found: list[Use] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Use(module, node.lineno, alias.name, "import") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (root / sub.replace(".", "/")).with_suffix(".py").exists() or (root / sub.replace(".", "/")).is_dir()
                found.append(Use(module, node.lineno, sub if is_module else base, "import"))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in IMPORTING_CALLS and node.args:
                first = node.args[0]
                named = first.elts if isinstance(first, (ast.List, ast.Tuple)) else [first]
                named = [n for n in named if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                found += [Use(module, node.lineno, n.value, "importlib") for n in named]
                prose.update(map(id, named))
        elif isinstance(node, (ast.List, ast.Tuple)):
            for flag, value in zip(node.elts, node.elts[1:]):
                if (isinstance(flag, ast.Constant) and flag.value == "-m" and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)):
                    found.append(Use(module, node.lineno, value.value, "-m"))
                    prose.add(id(value))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
              and DOTTED.fullmatch(node.value)):
            found.append(Use(module, node.lineno, node.value, "string"))
    return found


def package_uses(folder: Path, root: Path) -> list[Use]:
    return [use for path in sorted(folder.rglob("*.py")) for use in uses_of(path, root)]


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") or (p.endswith("_") and name.startswith(p)) for p in prefixes)


def forbidden(uses: Iterable[Use], prefixes: tuple[str, ...], hows=("import", "importlib", "-m", "string")) -> list[str]:
    return sorted(str(use) for use in uses if use.how in hows and under(use.target, *prefixes))


def lib_node(name: str) -> str:
    """A module's node in the folder graph: `lib` for lib/__init__.py, the folder for a module under a subfolder of
    lib (lib/frames/read.py: `frames`), and the module itself for a top-level module (lib/layout.py: `layout`)."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 else "lib"


def folder_cycles(uses: Iterable[Use], lib: str = "prep_platform.lib") -> list[str]:
    """Each cycle among lib's nodes (lib_node) made by its imports (anywhere in a file: a function's or a
    TYPE_CHECKING import is a dependency too) and importlib uses, one line per cycle naming its nodes and the imports
    that link them. A cycle is a strongly connected set of two or more nodes: A imports B and B imports A, directly
    or through others."""
    edges: dict[tuple[str, str], list[Use]] = {}
    for use in uses:
        if use.how in ("import", "importlib") and under(use.module, lib) and under(use.target, lib):
            a, b = lib_node(use.module), lib_node(use.target)
            if a != b:
                edges.setdefault((a, b), []).append(use)
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan: the strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for component in (c for c in components if len(c) > 1):
        links = [f"{a} -> {b} ({'; '.join(list(dict.fromkeys(map(str, edges[(a, b)])))[:3])})"
                 for a in component for b in component if (a, b) in edges]
        cycles.append(f"cycle {' / '.join(component)}: " + ", ".join(links))
    return cycles


SHELLS_AND_DAGSTER = ("dagster", "dagster_", "prep_platform.defs", "prep_platform.definitions", "prep_platform.data_prep",
                      "prep_platform.main_job", "prep_platform.benchmarks", "prep_platform.deploy")


def test_the_core_imports_no_demo_sample_even_inside_a_function():
    """The shells give the sample to the pipeline (lib.demo_sample.DemoSample): no module of lib names
    prep_platform.samples, in an import anywhere in the file, an importlib call, a `-m` or a dotted string."""
    offenders = forbidden(package_uses(PACKAGE / "lib", PACKAGE.parent), ("prep_platform.samples",))
    assert offenders == [], "lib imports the demo sample:\n" + "\n".join(offenders)


def test_the_core_imports_no_shell_and_no_dagster():
    """Not even in a function or by name. (A report may name the tool that wrote it, e.g. "tool":
    "prep_platform.data_prep.download_msr_vtt": a string, not an import, so strings are not read here.)"""
    offenders = forbidden(package_uses(PACKAGE / "lib", PACKAGE.parent), SHELLS_AND_DAGSTER, hows=("import", "importlib", "-m"))
    assert offenders == [], "lib imports a shell or Dagster:\n" + "\n".join(offenders)


def test_nothing_in_the_package_imports_the_tests():
    """The benchmarks (and every other module of the package) import, run (`-m`) or name no module of
    prep_platform_tests: what a benchmark shares with the tests lives in the package (e.g. deploy.local_cluster)."""
    offenders = forbidden(package_uses(PACKAGE, PACKAGE.parent), ("prep_platform_tests",))
    assert offenders == [], "the package uses the tests:\n" + "\n".join(offenders)


def test_the_core_folders_import_each_other_without_a_cycle():
    """Nodes: each subfolder of lib (with everything under it), each top-level module of lib, and lib/__init__.py
    (`lib`); an edge wherever a module of one imports a module of another (lib_node, folder_cycles)."""
    uses = package_uses(PACKAGE / "lib", PACKAGE.parent)
    assert len({lib_node(use.module) for use in uses}) > 15
    cycles = folder_cycles(uses)
    assert cycles == [], "lib's folders import each other in a cycle:\n" + "\n".join(cycles)


def test_the_rules_see_what_they_are_meant_to(tmp_path):
    """Each kind of use is found, and a cycle through three folders is one."""
    lib = tmp_path / "prep_platform" / "lib"
    for folder in ("files", "layout_pkg", "video"):
        (lib / folder).mkdir(parents=True)
        (lib / folder / "__init__.py").write_text("")
    (tmp_path / "prep_platform" / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "files" / "a.py").write_text('"""prep_platform.samples in a docstring is prose."""\n'
                                        "def f():\n    from prep_platform.samples import msr_vtt\n"
                                        "    from ..layout_pkg import b\n")
    (lib / "layout_pkg" / "b.py").write_text("import importlib\nimportlib.import_module('prep_platform.lib.video.c')\n")
    (lib / "video" / "c.py").write_text("from prep_platform.lib.files import a\n"
                                        "RUN = ['python', '-m', 'prep_platform_tests.support.x']\n"
                                        "if 0:\n    import dagster as dg\n")
    uses = package_uses(lib, tmp_path)
    assert forbidden(uses, ("prep_platform.samples",)) == ["prep_platform.lib.files.a:3 import prep_platform.samples"]
    assert forbidden(uses, ("prep_platform_tests",)) == ["prep_platform.lib.video.c:2 -m prep_platform_tests.support.x"]
    assert forbidden(uses, SHELLS_AND_DAGSTER) == ["prep_platform.lib.video.c:4 import dagster"]
    assert [line.split(":")[0] for line in folder_cycles(uses)] == ["cycle files / layout_pkg / video"]
