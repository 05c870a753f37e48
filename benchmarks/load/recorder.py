"""The server's resident memory and CPU use, sampled through a run and printed as they come."""
from __future__ import annotations

import asyncio
import time

from benchmarks.harness import StreamlitServer
from benchmarks.load.process_stats import cpu_seconds, machine_busy, rss_mb


class Recorder:
    """Memory and CPU samples of the server every ``every`` seconds, printed as they come."""

    def __init__(self, server: StreamlitServer, every: float, quiet: bool):
        self.server, self.every, self.quiet = server, every, quiet
        self.start = time.monotonic()
        self.samples: list[dict] = []
        self.phase = "start"
        self.progress = lambda: ""
        self._last = (time.monotonic(), cpu_seconds(server.process.pid), *machine_busy())

    def sample(self, label: str | None = None) -> dict:
        now, cpu, (busy, total) = time.monotonic(), cpu_seconds(self.server.process.pid), machine_busy()
        t0, cpu0, busy0, total0 = self._last
        self._last = (now, cpu, busy, total)
        point = {"t_s": round(now - self.start, 1), "phase": label or self.phase,
                 "rss_mb": round(rss_mb(self.server.process.pid), 1),
                 "server_cpu_pct": round(100 * (cpu - cpu0) / max(now - t0, 1e-6), 1),
                 "machine_busy_pct": round(100 * (busy - busy0) / max(total - total0, 1), 1)}
        self.samples.append(point)
        if not self.quiet:
            extra = self.progress()
            print(f"  [{point['t_s']:6.1f} s] {point['phase']:<22} RSS {point['rss_mb']:7.1f} MB   server CPU "
                  f"{point['server_cpu_pct']:5.1f} %   machine busy {point['machine_busy_pct']:5.1f} %"
                  + (f"   {extra}" if extra else ""), flush=True)
        return point

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.sample()

