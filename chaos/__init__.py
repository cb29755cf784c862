"""The chaos suite: proof that every Rackbeat document reaches Dinero exactly once under faults.

Real processes (gunicorn serving the service and both emulators, two or more ``qcluster``
processes) on PostgreSQL; faults injected in both emulators; workers killed with SIGKILL; the
emulators' own storage counted afterwards. See ``docs/chaos.md``.
"""
