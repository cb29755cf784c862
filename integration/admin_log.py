"""Admin for the sync log, needs-attention list, runs, exchanges and webhook deliveries."""
