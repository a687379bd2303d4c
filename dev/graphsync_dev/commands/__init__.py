"""The `graphsync-dev` commands: the substrate's servers, the demo, and the generated files that need a checkout."""
