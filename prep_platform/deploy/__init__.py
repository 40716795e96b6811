"""Deployment: the `distributed` profile's Dagster and Celery configuration (distributed/), the Helm values for
Kubernetes (kubernetes/), and local_cluster: that cluster on one machine's loopback, for benchmarks and tests."""
