"""When downstream assets update by themselves (with the automation sensor on)."""

import dagster as dg


def downstream_automation() -> dg.AutomationCondition:
    """Update when a dependency updated or this asset's code (e.g. the scenarios YAML) changed, but only once the
    dependencies' blocking checks passed and nothing upstream is still in progress."""
    return (
        (dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed())
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    )
