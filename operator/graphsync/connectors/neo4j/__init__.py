"""Neo4j: a sink (version-guarded UNWIND MERGE) and, later, a source."""
