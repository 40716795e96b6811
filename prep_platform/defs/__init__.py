"""Dagster definitions, one folder per domain. Assets and checks are thin shells over `prep_platform.lib`."""
