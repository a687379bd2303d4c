"""Pure builders: a resource's spec in, the manifests of its children out (no I/O)."""
