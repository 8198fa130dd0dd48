"""What a running Envoy reports about itself: its stats (admin /stats), the plugin's counters and its
memory (tcmalloc's allocated bytes and the process's resident set)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from .envoy import Envoy

MIB = 1 << 20
PLUGIN_PREFIX = "wasmcustom."  # Envoy's prefix for the counters a Wasm plugin defines


def stat(envoy: Envoy, name: str) -> int:
    """One counter or gauge by its exact name (0 while it is not defined yet)."""
    text = envoy._admin_get(f"/stats?filter=^{re.escape(name)}$").decode()
    _, _, value = text.strip().partition(": ")
    return int(value) if value.isdigit() else 0


# The plugin hands its counters to Envoy on its tick (200 ms): after the last request, counters
# that stay the same over two reads this long apart (a tick or more each) are settled.
_SETTLE = 0.3
_SETTLE_TIMEOUT = 5.0


def _read_plugin_counters(envoy: Envoy) -> dict[str, int]:
    text = envoy._admin_get("/stats?filter=^" + re.escape(PLUGIN_PREFIX + "meshguard.")).decode()
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name.removeprefix(PLUGIN_PREFIX)] = int(value)
    return out


def plugin_counters(envoy: Envoy) -> dict[str, int]:
    """The plugin's counters (`meshguard.*`, without Envoy's `wasmcustom.` prefix), once the
    requests already answered are all counted (read when no request is in flight)."""
    deadline = time.monotonic() + _SETTLE_TIMEOUT
    last, same = _read_plugin_counters(envoy), 0
    while True:
        time.sleep(_SETTLE)
        now = _read_plugin_counters(envoy)
        same = same + 1 if now == last else 0
        if same == 2 or time.monotonic() > deadline:
            return now
        last = now


@dataclass(frozen=True)
class Memory:
    allocated: int  # bytes tcmalloc handed out (`server.memory_allocated`); Wasm linear memory is not in it
    rss: int  # bytes resident (VmRSS): the Wasm VMs' memory and code included

    def growth_since(self, before: "Memory") -> "Memory":
        return Memory(self.allocated - before.allocated, self.rss - before.rss)

    def __str__(self) -> str:
        return f"allocated {self.allocated / MIB:.1f} MiB, rss {self.rss / MIB:.1f} MiB"


def memory(envoy: Envoy) -> Memory:
    """Envoy's memory now. The venv's `envoy` script execs the binary, so the pid is Envoy's own."""
    status = Path(f"/proc/{envoy.proc.pid}/status").read_text()
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
    return Memory(stat(envoy, "server.memory_allocated"), rss_kb * 1024)
