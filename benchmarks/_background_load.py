"""A bounded background CPU load for the studies: co-running processes at a fixed duty cycle.

Each process spins for `duty` of every `period_ms` and sleeps the rest, and ends
by itself after `seconds` even if the study dies; leaving the `with` block ends
it at once.
"""

import subprocess
import sys

_LOOP = """
import sys, time
duty, period, seconds = float(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3])
end = time.monotonic() + seconds
while time.monotonic() < end:
    start = time.monotonic()
    while time.monotonic() - start < duty * period:
        pass
    time.sleep(max(0.0, period - (time.monotonic() - start)))
"""


class BackgroundLoad:
    """Example:
    >>> with BackgroundLoad(processes=2, duty=0.5, period_ms=20, seconds=300):
    ...     measure()
    """

    def __init__(self, processes: int = 2, duty: float = 0.5, period_ms: float = 20.0,
                 seconds: float = 600.0):
        self.processes, self.duty, self.period_ms, self.seconds = \
            processes, duty, period_ms, seconds
        self._running = []

    def describe(self) -> str:
        return (f"{self.processes} co-running process(es), each busy {self.duty:.0%} of every "
                f"{self.period_ms:g} ms")

    def __enter__(self):
        self._running = [subprocess.Popen([sys.executable, "-c", _LOOP, str(self.duty),
                                           str(self.period_ms), str(self.seconds)])
                         for _ in range(self.processes)]
        return self

    def __exit__(self, *exc):
        for process in self._running:
            process.terminate()
        for process in self._running:
            process.wait(10)
        self._running = []
