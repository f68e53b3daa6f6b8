"""Side effects: Spark sessions, Delta tables, the Redis online store, source schemas."""
