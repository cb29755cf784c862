"""Test-run environment defaults, loaded as a pytest plugin (`-p config.testenv`) before settings are read."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SANDBOX_ENABLED", "true")
# Tasks run inline in tests unless a test starts real worker processes.
os.environ.setdefault("Q_SYNC", "true")
# Playwright's sync API keeps an event loop in the test thread; Django's ORM calls from that
# thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
