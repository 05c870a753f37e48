"""CPU time and resident memory of a process tree, and how busy the machine is, from /proc."""
from __future__ import annotations

import os
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """All descendants of ``pid``, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB (0 if it is gone)."""
    total_kb = 0
    for p in [pid, *children_of(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    total = 0
    for p in [pid, *children_of(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)



def wait_until_idle(pid: int, seconds: float, quiet_cpu_s: float = 0.15, settle: int = 3) -> float:
    """Wait until ``pid`` and its descendants used under ``quiet_cpu_s`` CPU seconds in each of
    ``settle`` consecutive seconds, at most ``seconds``; returns the seconds waited. (A server's
    background work shows only in its CPU time, not in anything a browser can see.)"""
    start = time.monotonic()
    quiet, last = 0, cpu_seconds(pid)
    while time.monotonic() - start < seconds and quiet < settle:
        time.sleep(1.0)  # the sampling interval of the CPU time
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < quiet_cpu_s else 0
        last = now
    return time.monotonic() - start
