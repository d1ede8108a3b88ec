"""Asset checks: the bundle contract and stale/missing-domain flags (blocking publication)."""
