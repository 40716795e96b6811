"""Markdown metadata for the UI: one bullet per item, "none" when there is nothing to list."""

from collections.abc import Iterable

import dagster as dg


def bullets(lines: Iterable[str], limit: int | None = None) -> dg.MetadataValue:
    items = list(lines)[:limit]
    return dg.MetadataValue.md("\n".join(f"- {line}" for line in items) or "none")
