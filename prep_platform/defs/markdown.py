"""Markdown metadata for the UI: one bullet per item, plain "none" when there is nothing to list."""

from collections.abc import Iterable

import dagster as dg


def bullets(lines: Iterable[str], limit: int | None = None) -> dg.MetadataValue:
    items = list(lines)[:limit]
    if not items:  # plain text: the UI shows an empty Markdown value as a "Show Markdown" link to nothing
        return dg.MetadataValue.text("none")
    return dg.MetadataValue.md("\n".join(f"- {line}" for line in items))
