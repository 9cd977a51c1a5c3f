"""optax's own test files, run against gradlab (see README.md in this directory)."""
