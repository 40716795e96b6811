"""The scenario partitions' setting: a bad scenarios file fails the code location with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_bad_scenarios_setting_fails_dg_check_defs_with_its_reason_first_and_unchained(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  urban: {keywords: [street]}\n  urban: {keywords: [city]}\n")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(Path(sys.executable).parent / "dg"), "check", "defs"], cwd=repo, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PREP_PLATFORM_SCENARIOS": str(bad)})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    # The first line of the error is the whole story; no chained exception, nothing from inside PyYAML or pydantic.
    error_lines = [line for line in output.splitlines() if "ScenariosSettingError:" in line]
    assert len(error_lines) == 1 and f"PREP_PLATFORM_SCENARIOS={bad}" in error_lines[0]
    assert "'urban' is defined twice: at line 2" in error_lines[0] and "line 3" in error_lines[0]
    assert "During handling" not in output and "was caused by" not in output and "yaml/" not in output
