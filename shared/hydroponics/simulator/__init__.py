"""A simulated farm: bays of sensors posting readings to the platform like real devices (`scripts/simulate`)."""
