"""Local by default: ``streamlit run app.py`` with no address given (so .streamlit/config.toml's
``server.address``) listens on this machine's loopback only, and prints that one address."""
from __future__ import annotations

import ipaddress
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.harness import ROOT, free_port


def listening(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table, size in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # the kernel writes each 32-bit word in host (little-endian) order
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
                found.append(ipaddress.ip_address(words))
    return found


def test_the_server_listens_on_localhost_only_unless_asked(tmp_path):
    port = free_port()
    env = {**os.environ, "LATENT_EXPLORER_CACHE": str(tmp_path), "LATENT_EXPLORER_WARM_START": "0", "PYTHONUNBUFFERED": "1"}
    # no --server.address: what a person typing the README's command gets
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
        printed, addresses, deadline = [], [], time.monotonic() + 90
        while time.monotonic() < deadline and not (addresses and any("URL" in line for line in printed)):
            try:
                printed.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert server.poll() is None, f"the server stopped: {''.join(printed)}"
            addresses = listening(port)
        urls = [line.strip() for line in printed if "URL" in line]
        assert urls == [f"URL: http://localhost:{port}"], printed  # no "Network URL", no "External URL"
        assert addresses and all(address.is_loopback for address in addresses), addresses
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
