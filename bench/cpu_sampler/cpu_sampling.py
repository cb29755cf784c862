"""A sampler of a process's CPU time: one stack per millisecond of CPU (``ITIMER_PROF``), so
waiting costs nothing and is not sampled, and no call pays a profiler's overhead. Stacks are kept
collapsed (``frame;frame;…`` → samples), as flame-graph tools read them."""

from __future__ import annotations

import collections
import os
import signal
import time
from typing import Any

stacks: collections.Counter[str] = collections.Counter()


def stack_of(frame: Any) -> str:
    names = []
    while frame is not None:
        code = frame.f_code
        where = code.co_filename.rsplit("site-packages/", 1)[-1].rsplit("/python3.11/", 1)[-1]
        names.append(f"{code.co_name} ({where.replace(os.getcwd() + '/', '')}:{code.co_firstlineno})")
        frame = frame.f_back
    return ";".join(reversed(names))


def start(on_sample: Any = None) -> None:
    """Sample this process from now on (``on_sample()`` after each sample); again after a fork."""

    def take(signum: int, frame: Any) -> None:
        if busy:  # a sample that comes while the last one is taken is dropped
            return
        busy.append(True)
        try:
            stacks[stack_of(frame)] += 1
            if on_sample is not None:
                on_sample()
        finally:
            busy.clear()

    busy: list[bool] = []

    stacks.clear()
    signal.signal(signal.SIGPROF, take)
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)


def stop() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0, 0)


def start_from_environment() -> None:
    """With ``CPU_SAMPLE_DIR`` set: sample this process and every process forked from it, each
    writing its stacks to ``$CPU_SAMPLE_DIR/stacks-<pid>.txt`` at most every half second."""
    directory = os.environ.get("CPU_SAMPLE_DIR", "")
    if not directory:
        return
    written = [time.monotonic()]

    def write() -> None:
        now = time.monotonic()
        if now - written[0] > 0.5:
            written[0] = now
            with open(os.path.join(directory, f"stacks-{os.getpid()}.txt"), "w") as out:
                out.writelines(f"{stack} {count}\n" for stack, count in list(stacks.items()))

    start(write)
    os.register_at_fork(after_in_child=lambda: start(write))
