"""Data versions from file content: an asset whose output bytes did not change does not make downstream stale."""

import dagster as dg

from prep_platform.lib.source_files import content_fingerprint


def file_data_version(*paths) -> dg.DataVersion:
    return dg.DataVersion(content_fingerprint(*paths))
