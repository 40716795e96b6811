"""Jobs, schedules and the automation sensor."""

import dagster as dg

from prep_platform.defs.automation.jobs import (
    cpu_executor,
    exports_job,
    latents_job,
    metadata_job,
    panda_ingest_job,
    sources_job,
    step_executor,
)
from prep_platform.defs.automation.schedules import (
    latents_nightly_schedule,
    prep_automation_sensor,
    raw_refresh_job,
    raw_refresh_schedule,
)

defs = dg.Definitions(
    jobs=[sources_job, panda_ingest_job, metadata_job, latents_job, exports_job, raw_refresh_job],
    schedules=[raw_refresh_schedule, latents_nightly_schedule],
    sensors=[prep_automation_sensor],
    # What runs without a job of its own uses: a materialisation from the UI, the automation sensor's runs.
    executor=step_executor(cpu_executor),
)
