"""The scheduled jobs and how often each should run (the template's schedules; tests/infra checks they agree)."""

# Where a job's runs are recorded: retention in retention_runs (issue 10), every other job as `job.ran` events.
RECORDED_IN_RUNS_TABLE = {"retention"}

# job name as its `job.ran` events name it -> seconds between two runs
SCHEDULED_JOBS: dict[str, int] = {
    "escalation": 60,            # escalation function, rate(1 minute)
    "advance_stages": 3600,      # stages function, rate(1 hour)
    "calibration_due": 86400,    # stages function, daily 06:00 UTC
    "drift": 86400,              # stages function, daily 03:00 UTC
    "retention": 86400,          # retention function, daily 02:00 UTC
}
