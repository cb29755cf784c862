"""Loaded by Python at start-up from this directory on ``PYTHONPATH``: with ``CPU_SAMPLE_DIR`` set,
every process of the bench's ``qcluster`` (``bench/invoice_cpu.py --sample-cluster DIR``), and
every process forked from it, samples its CPU time (``cpu_sampling``)."""

from cpu_sampling import start_from_environment

start_from_environment()
