"""Per-step tags that route work: CPU steps to the `cpu` Celery queue, GPU steps to `gpu` (one at a time under
the local executor, with a GPU request on Kubernetes). Tags on a job reach only the run, so they live on each
asset."""

CELERY_QUEUE = "dagster-celery/queue"
RESOURCE = "prep_platform/resource"

CPU_STEP_TAGS = {CELERY_QUEUE: "cpu"}

# Per-step pod settings for dagster_k8s.k8s_job_executor.
K8S_GPU_CONFIG = {
    "container_config": {"resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}},
    "pod_spec_config": {
        "node_selector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
GPU_STEP_TAGS = {RESOURCE: "gpu", CELERY_QUEUE: "gpu", "dagster-k8s/config": K8S_GPU_CONFIG}
