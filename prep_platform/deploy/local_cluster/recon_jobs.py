"""Jobs rebuilt in each step process by the multiprocess executor (settings come from the environment)."""

from prep_platform.definitions import build_definitions


def latents_job():
    return build_definitions().resolve_job_def("latents_job")


def sources_job():
    return build_definitions().resolve_job_def("sources_job")


def panda_ingest_job():
    return build_definitions().resolve_job_def("panda_ingest_job")


def metadata_job():
    return build_definitions().resolve_job_def("metadata_job")
