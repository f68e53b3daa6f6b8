"""Synthetic demo data for pitstop."""
