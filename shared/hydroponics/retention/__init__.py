"""Data lifecycle: readings and events past their horizon archived to S3 (Parquet), verified, then
removed from PostgreSQL; runs recorded; archives restored or queried. See job.py for the run."""
