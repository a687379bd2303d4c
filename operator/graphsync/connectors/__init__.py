"""Connectors: sources, sinks, transports and checkpoint stores, one folder per system."""
