"""Composition root: wires config, plan, compute and stores for the CLI and jobs."""
