"""The scheduled batch jobs of the stages function: stage advancement, calibration due, drift."""

from hydroponics.jobs.dispatch import JOBS, run_job

__all__ = ["JOBS", "run_job"]
