"""Running the system: freshness checks, secrets distribution, log redaction and erasure (GDPR)."""
