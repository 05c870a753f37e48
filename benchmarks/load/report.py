"""The load run's figures as a person reads them: a summary table, the first errors and
server tracebacks, and whether the run passed."""
from __future__ import annotations

from pathlib import Path


def table(results: dict) -> str:
    t, cfg = results["totals"], results["config"]
    fmt = lambda v, unit="": "–" if v is None else (f"{v:,.0f}{unit}" if isinstance(v, (int, float)) else str(v))  # noqa: E731
    single = results.get("single", {})
    rows = [
        ("sessions × measured seconds", f"{cfg['sessions']} × {cfg['seconds']:.0f} s (wall {fmt(results.get('concurrent_wall_s'))} s, "
                                        f"after a warm-up round of {fmt(results.get('warm_up_wall_s'))} s)"),
        ("slider updates", f"single {single.get('slider_updates', 0)}, under load {t['slider_updates']} "
                           f"({t['sessions_without_slider_updates']} sessions with none)"),
        ("slider latency p50 / p95, single", f"{fmt(t['single_p50_ms'], ' ms')} / {fmt(t['single_p95_ms'], ' ms')}"),
        ("slider latency p50 / p95, under load", f"{fmt(t['load_p50_ms'], ' ms')} / {fmt(t['load_p95_ms'], ' ms')}"),
        ("map change p50, under load", fmt(t["map_p50_ms"], " ms")),
        ("upload to result p50, under load", fmt(t["upload_p50_ms"], " ms")),
        ("page errors (exceptions, failed actions, JS)", f"{t['page_errors']}  (target 0)"),
        ("tracebacks in the server log", f"{t['server_tracebacks']}  (target 0)"),
        ("requests not to 127.0.0.1 (blocked)", str(t["blocked_requests"])),
        ("server RSS start / after warm-up / end",
         f"{fmt(results.get('rss_start_mb'), ' MB')} / {fmt(results.get('rss_after_warm_up_mb'), ' MB')} / "
         f"{fmt(results.get('rss_end_mb'), ' MB')}"),
        ("end / after warm-up", "–" if t["rss_growth"] is None else f"{t['rss_growth']:.2f}×"),
        ("RSS after the sessions closed", fmt(results.get("rss_after_close_mb"), " MB")),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append("\n  session  rounds  slider updates  p50 / p95 ms   map changes  p50 ms  uploads  p50 ms  errors")
    for s in results.get("sessions", []):
        lines.append(f"  {s['name']:<7}  {s['rounds']:>6}  {s['slider_updates']:>14}  {fmt(s['slider_p50_ms']):>5} / "
                     f"{fmt(s['slider_p95_ms']):<5}  {s['map_changes']:>11}  {fmt(s['map_p50_ms']):>6}  "
                     f"{s['uploads']:>7}  {fmt(s['upload_p50_ms']):>6}  {len(s['errors']):>6}")
    return "\n".join(lines)


def passed(results: dict) -> bool:
    return results["totals"]["page_errors"] == 0 and results["totals"]["server_tracebacks"] == 0


def print_report(results: dict, out: Path) -> None:
    print("\nLoad run on 127.0.0.1, " + f"{results['cpu_count']} CPUs, load average before "
          f"{results['load_average_before'][0]:.1f}")
    print(table(results))
    problems = [e for s in [results.get("single", {}), *results.get("sessions", [])] for e in s.get("errors", [])]
    for line in problems[:10]:
        print("  error:", line)
    for excerpt in results["server_log"]["traceback_excerpts"][:2]:
        print("  server traceback:\n" + excerpt)
    print(f"figures: {out / 'load_run.json'}, server log: {out / 'server.log'}")
