"""What one browser session measured, and the percentiles the report gives of it."""
from __future__ import annotations

from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class SessionStats:
    name: str
    slider_ms: list[float] = field(default_factory=list)
    map_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    page_load_ms: list[float] = field(default_factory=list)
    actions: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)  # exception boxes, failed actions, timeouts, JS errors
    blocked_requests: list[str] = field(default_factory=list)  # anything not to the local server
    warm_up: dict = field(default_factory=dict)  # the timings of the warm-up round, kept apart

    def start_measuring(self) -> None:
        """Set aside the warm-up's timings: from here on they count."""
        self.warm_up = {"slider_ms": self.slider_ms, "map_ms": self.map_ms, "upload_ms": self.upload_ms,
                        "page_load_ms": self.page_load_ms, "actions": self.actions}
        self.slider_ms, self.map_ms, self.upload_ms, self.page_load_ms = [], [], [], []
        self.actions, self.rounds = 0, 0

    def summary(self) -> dict:
        return {"name": self.name, "rounds": self.rounds, "actions": self.actions,
                "slider_updates": len(self.slider_ms), "map_changes": len(self.map_ms), "uploads": len(self.upload_ms),
                "slider_p50_ms": percentile(self.slider_ms, 50), "slider_p95_ms": percentile(self.slider_ms, 95),
                "map_p50_ms": percentile(self.map_ms, 50), "upload_p50_ms": percentile(self.upload_ms, 50),
                "errors": self.errors, "blocked_requests": self.blocked_requests,
                "warm_up": self.warm_up,
                "slider_ms": self.slider_ms}

