"""Conflicts: detecting entities both sides changed, and resolving them by policy."""
