"""Jobs rebuilt in each step process by the multiprocess executor (settings come from the environment)."""

from prep_platform.definitions import build_definitions


def latents_job():
    return build_definitions().resolve_job_def("latents_job")


def prep_job():
    return build_definitions().resolve_job_def("prep_job")
