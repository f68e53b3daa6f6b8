"""PURE Spark transforms: DataFrame -> DataFrame (tiles, windows, as-of joins)."""
