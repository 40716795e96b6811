"""An export owns only what it made (issue 28): a killed export's leftovers are known by the owner file written
beside each, never by their name, so a user's `mine/.out.old-photos` stays, an output name is never a pattern
(`mine2/*` leaves `mine2/.a.old-1/` alone), a foreign folder where the export would write is passed over, and a
live export's folders are left to it; what a really killed export left is still removed by the next one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prep_platform.lib.exports.export import OWNER_SUFFIX, export_problems, read_export
from prep_platform.lib.files.atomic import host_tag
from prep_platform_tests.lib.exports.test_export_safety import run_tool, snapshot

# The real command, killed (SIGKILL) right after the atomic exchange: the old export lies in the partial folder.
KILLED_EXPORT = textwrap.dedent("""
    import os, signal, sys
    from prep_platform.data_prep import export_training_set
    from prep_platform.lib.exports import export

    real_exchange = export._exchange
    def exchange(a, b):
        assert real_exchange(a, b)
        os.kill(os.getpid(), signal.SIGKILL)
    export._exchange = exchange
    export_training_set.main(sys.argv[1:])
""")


def _user_folders(parent: Path) -> list[Path]:
    """Folders of the user's that merely look like an export's leftovers, each with a file in it."""
    folders = [parent / ".out.old-photos", parent / ".out.partial-notes", parent / ".out.old-1"]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")
    return folders


def _beside(folder: Path, output: Path) -> dict:
    """The snapshot of `folder` less the export itself and the folder's lock file (both the export's own)."""
    return {path: facts for path, facts in snapshot(folder).items()
            if not (path == str(output) or path.startswith(f"{output}/") or path == str(folder / ".prep_platform.lock"))}


def _cli(root: str, output: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prep_platform.data_prep.export_training_set", "--data-root", root,
                           "--format", "cogvideox-factory", "--split", "all", "--output-dir", str(output), *extra],
                          capture_output=True, text=True, timeout=300)


def test_a_killed_exports_leftovers_go_and_the_users_look_alikes_stay(settings, tmp_path):
    mine = tmp_path / "mine"
    users = _user_folders(mine)
    before = snapshot(mine)
    first = _cli(settings.data_root, mine / "out")
    assert first.returncode == 0, first.stderr
    assert _beside(mine, mine / "out") == before
    killed = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, "--data-root", settings.data_root, "--format",
                               "cogvideox-factory", "--split", "all", "--output-dir", str(mine / "out"),
                               "--order-seed", "7"], stderr=subprocess.PIPE, text=True)
    assert killed.wait(timeout=300) == -9, killed.stderr.read()
    leftover = mine / f".out.partial-{killed.pid}"  # the old export, swapped out, with the file that says whose
    assert read_export(leftover)["options"]["order_seed"] == 0 and Path(f"{leftover}{OWNER_SUFFIX}").is_file()

    again = _cli(settings.data_root, mine / "out")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "written" and export_problems(mine / "out") == []
    assert not leftover.exists() and not list(mine.glob(f"*{OWNER_SUFFIX}"))
    assert _beside(mine, mine / "out") == before and all((folder / "keep.txt").read_text() == "mine" for folder in users)


def test_an_output_name_is_never_a_pattern(settings, tmp_path, capsys):
    mine2 = tmp_path / "mine2"
    other = mine2 / ".a.old-1"
    other.mkdir(parents=True)
    (other / "keep.txt").write_text("mine")
    (mine2 / ".a.partial-1").mkdir()
    before = snapshot(mine2)
    code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory",
                              "--output-dir", str(mine2 / "*"))
    assert code == 0, err
    assert Path(json.loads(out)["export"]) == mine2 / "*" and export_problems(mine2 / "*") == []
    assert _beside(mine2, mine2 / "*") == before and (other / "keep.txt").read_text() == "mine"


def test_a_foreign_folder_where_the_export_would_write_and_a_live_exports_folder_are_left_alone(settings, tmp_path,
                                                                                                   capsys):
    mine = tmp_path / "mine"
    squatter = mine / f".out.partial-{os.getpid()}"  # the very name this process's export would take first
    squatter.mkdir(parents=True)
    (squatter / "keep.txt").write_text("mine")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        # What a live export of another process has made so far (the folder lock is per parent; should anything
        # not take it, its writer is still alive).
        live = mine / f".out.partial-{sleeper.pid}"
        (live / "videos").mkdir(parents=True)
        Path(f"{live}{OWNER_SUFFIX}").write_text(json.dumps({
            "export_leftover": "partial", "output": str(mine / "out"), "folder": live.name, "host": host_tag(),
            "pid": sleeper.pid}))
        before = snapshot(mine)
        code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory",
                                  "--output-dir", str(mine / "out"))
        assert code == 0, err
        assert export_problems(mine / "out") == []
        assert _beside(mine, mine / "out") == before
    finally:
        sleeper.kill()
        sleeper.wait()
    # Once that writer is gone, its folder is a leftover the next export removes; the squatter still stays.
    code, out, err = run_tool(capsys, "--data-root", settings.data_root, "--format", "cogvideox-factory",
                              "--output-dir", str(mine / "out"))
    assert code == 0, err
    assert not live.exists() and not Path(f"{live}{OWNER_SUFFIX}").exists() and (squatter / "keep.txt").exists()
