"""PURE: discovery, compiler, fingerprint, diff, naming."""
