"""Dagster table schemas from the core's row classes: one definition for the Parquet columns and the UI."""

import dagster as dg

from prep_platform.lib.files.row_table import column_descriptions


def row_table_schema(row_type: type) -> dg.TableSchema:
    """The columns of a manifest typed by `row_type` (files.row_table), as the asset's `dagster/column_schema`."""
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=doc)
                                   for name, kind, doc in column_descriptions(row_type)])


def column_schema_metadata(row_type: type) -> dict:
    return {"dagster/column_schema": row_table_schema(row_type)}
