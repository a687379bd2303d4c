"""Subcommands of the `graphsync` CLI, one module each; each exposes `register(subparsers)`."""
