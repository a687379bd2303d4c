"""Log-based capture: a logical replication slot per pipeline, decoded from PostgreSQL's `pgoutput`."""
