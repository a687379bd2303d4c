"""PostgreSQL: the transactional outbox (publisher, triggers, relay), watermark and snapshot sources."""
