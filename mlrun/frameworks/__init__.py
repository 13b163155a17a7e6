"""Ready model server classes for machine-learning frameworks (each in its own pip extra)."""
