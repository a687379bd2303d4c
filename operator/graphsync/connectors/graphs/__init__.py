"""Reading graphs (Neo4j, FalkorDB) as sources, and comparing a source graph with its target."""
