"""FalkorDB: a graph target (and source), over the Redis protocol."""
