"""One static partition per scenario, read from the scenarios YAML (never one partition per clip)."""

import os

import dagster as dg

from prep_platform.lib.scenarios import load_scenarios

SCENARIOS_ENV = "PREP_PLATFORM_SCENARIOS"


def scenario_names() -> list[str]:
    return list(load_scenarios(os.environ.get(SCENARIOS_ENV) or None).scenarios)


scenario_partitions = dg.StaticPartitionsDefinition(scenario_names())
