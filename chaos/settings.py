"""Settings of every process in a chaos run: the service's own, with the clock compressed.

Only time is changed, never a rule: retries back off from 2 s instead of 30 s, a worker's claim is
stale after one minute, and the emulated Dinero's "timeout" stalls just past the client's shorter
timeout. Budgets are raised so a run of a thousand invoices ends in minutes rather than hours
(``docs/chaos.md`` lists each value and why).
"""

from config.settings import *  # noqa: F403
from config.settings import env

# A lost answer ("timeout") costs the client HTTP_TIMEOUT_SECONDS; the emulator stalls a little longer.
SANDBOX_DINERO_TIMEOUT_SECONDS = env.float("SANDBOX_DINERO_TIMEOUT_SECONDS", default=HTTP_TIMEOUT_SECONDS + 1)  # noqa: F405
SANDBOX_DINERO_RATE_LIMIT_PER_MINUTE = env.int("SANDBOX_DINERO_RATE_LIMIT_PER_MINUTE", default=100)
# The engine's retry clock (read by integration.core.engine.backoff_seconds when present).
BACKOFF_BASE_SECONDS = env.float("BACKOFF_BASE_SECONDS", default=2.0)
BACKOFF_MAX_SECONDS = env.float("BACKOFF_MAX_SECONDS", default=30.0)
SANDBOX_WEBHOOK_RETRY_SECONDS = env.float("SANDBOX_WEBHOOK_RETRY_SECONDS", default=0.5)
