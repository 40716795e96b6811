"""Jobs, in the order the main job runs them: `sources_job` (downloads), `panda_ingest_job` (Panda-70M download
shards), `metadata_job` (scenario metadata and evaluation prompts), `latents_job` (frames, latents, training index
and prompt embeddings of one or more shards of work, partitions `<scenario>.<nnnn>`, on an executor that runs at most
one GPU step at a time), `exports_job` (one trainer format's export)."""

import dagster as dg

from prep_platform.defs.tags import RESOURCE
from prep_platform.lib.deployment import DeploymentSettings


def deployment() -> DeploymentSettings:
    """The deployment's settings, read when the definitions are built (lib.deployment)."""
    return DeploymentSettings.from_env()


def profile() -> str:
    return deployment().profile


def distributed() -> bool:
    return profile() == "distributed"


def k8s_step_executor() -> dg.ExecutorDefinition:
    """One Kubernetes job per step. GPU requests, node selector and tolerations come from each step's
    `dagster-k8s/config` tag (defs/tags.py), so CPU steps get plain pods and GPU steps land on GPU nodes."""
    from dagster_k8s import k8s_job_executor

    settings = deployment()
    return k8s_job_executor.configured(
        {
            "job_namespace": settings.k8s_namespace,
            "max_concurrent": settings.k8s_max_concurrent,
            # GPU steps in flight at once: the number of GPUs the cluster lends this deployment.
            "tag_concurrency_limits": [{"key": RESOURCE, "value": "gpu", "limit": settings.k8s_gpus}],
        },
        name="k8s_step_executor",
    )


# Steps fork from a server that has already imported the code location (Dagster's forkserver preloads the module the
# job was loaded from), so a step starts in a fraction of a second instead of importing Dagster and the definitions
# again (~4 s of CPU a step with Dagster's default, spawn). Never plain fork: CUDA state must not be forked.
cpu_executor = dg.multiprocess_executor.configured({"start_method": {"forkserver": {}}}, name="forkserver_multiprocess_executor")


def step_executor(local: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """The executor for the deployment profile; `local` outside Celery and Kubernetes."""
    if profile() == "distributed":
        return celery_step_executor()
    if profile() == "kubernetes":
        return k8s_step_executor()
    return local


def celery_step_executor() -> dg.ExecutorDefinition:
    """Dagster's Celery executor: each step is a task on the queue its `dagster-celery/queue` tag names (cpu or
    gpu); workers started with `dagster-celery worker start -q <queue>` take them. A worker that dies mid-step
    leaves its task unacknowledged; after the visibility timeout another worker runs the step again."""
    from dagster_celery import celery_executor

    settings = deployment()
    return celery_executor.configured(
        {
            "broker": settings.celery_broker,
            "backend": settings.celery_backend,
            "config_source": {
                "task_acks_late": True,
                "task_reject_on_worker_lost": True,
                "worker_prefetch_multiplier": 1,
                "broker_transport_options": {
                    "visibility_timeout": settings.celery_visibility_timeout
                },
            },
        },
        name="celery_queue_executor",
    )


# The raw group without panda70m_shards: that one is partitioned by download shard (a job's assets share one
# partitioning), and runs in panda_ingest_job.
SOURCES = dg.AssetSelection.groups("raw") - dg.AssetSelection.assets("panda70m_shards")

sources_job = dg.define_asset_job(
    "sources_job",
    executor_def=step_executor(cpu_executor),
    selection=SOURCES,
    description="Downloads: MSR-VTT, VATEX, the Panda-70M instructions (its download shards become ingest "
    "partitions) and subset, and their checks.",
)

panda_ingest_job = dg.define_asset_job(
    "panda_ingest_job",
    executor_def=step_executor(cpu_executor),
    selection=dg.AssetSelection.assets("panda70m_shards"),
    description="Ingest of Panda-70M download shards (one partition per shard folder or tar): probe each clip, "
    "read its caption; unchanged shards are skipped. panda70m_shards_sensor launches it as shards arrive.",
)

metadata_job = dg.define_asset_job(
    "metadata_job",
    executor_def=step_executor(cpu_executor),
    selection=dg.AssetSelection.groups("metadata", "eval"),
    description="Scenario metadata (which registers the shards of work), VATEX evaluation prompts, and their checks.",
)

# Frame work runs in its own step without the gpu tag, so it never holds the GPU slot; forkserver, never fork
# (CUDA state must not be forked).
gpu_executor = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 4,
        "tag_concurrency_limits": [{"key": RESOURCE, "value": "gpu", "limit": 1}],
        "start_method": {"forkserver": {}},
    },
    name="gpu_multiprocess_executor",
)

latents_job = dg.define_asset_job(
    "latents_job",
    selection=dg.AssetSelection.groups("frames", "latents", "prompts"),
    executor_def=step_executor(gpu_executor),
    description="Frames, VAE latents, the training index and prompt embeddings for one or more shard partitions (scenario.nnnn, e.g. urban.0003); GPU "
    "steps one at a time.",
)

exports_job = dg.define_asset_job(
    "exports_job",
    selection=dg.AssetSelection.groups("exports"),
    executor_def=step_executor(cpu_executor),
    description="The training set in one trainer's layout (one partition per format), read back by its rules.",
)
