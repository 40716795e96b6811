"""The `distributed` profile on one machine, on loopback: throwaway PostgreSQL and Redis servers (services), Celery
workers serving named queues with the deploy/distributed configuration (cluster), the jobs a step process rebuilds
(recon_jobs), and one step of a backfill run against such a cluster that prints a JSON line (backfill_step). Used by
the Celery benchmark (prep_platform.benchmarks.celery_scaling) and the distributed tests. Needs the PostgreSQL and
redis-server binaries (services.missing_services says what is missing) and the `distributed` extra."""
