"""The rule engine: conditions, per-client rule cache, evaluation of stored readings, the no-data check."""
