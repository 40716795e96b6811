"""The metadata-view benchmark runs as the README shows it (a small size: the figures are the benchmark's to print)."""

from __future__ import annotations

from prep_platform.benchmarks.metadata_view import main


def test_the_view_benchmark_prints_a_row_per_size(capsys):
    main(["--sizes", "50,120", "--repeats", "1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["50", "50"], ["120", "120"]] and all(float(row[2]) > 0 for row in rows)
