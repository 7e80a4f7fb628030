"""A bounded load test of `edgeship serve` on loopback with Debian's `wrk`.

Each route gets `duration_s` seconds (2 wrk threads, 16 connections, 127.0.0.1 only); reported: requests per
second, throughput, p50 and p99 latency, and errors (socket errors plus non-2xx/3xx answers), which must be 0.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.serving import EdgeshipServer

THREADS = 2
CONNECTIONS = 16
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse(output: str) -> dict[str, Any]:
    """The figures of one `wrk --latency` run."""
    percentiles = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)}
    requests = re.search(r"^\s+(\d+) requests in ([\d.]+\w+), ([\d.]+)(\w+) read", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not (requests and rps and "99" in percentiles):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    seconds = _ms(requests.group(2)) / 1000
    if int(requests.group(1)) == 0:
        raise RuntimeError(f"no request completed: the server did not answer\n{output}")
    return {
        "requests": int(requests.group(1)),
        "requests_per_s": float(rps.group(1)),
        "mb_per_s": float(requests.group(3)) * _BYTES[requests.group(4)] / seconds / 1e6,
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "errors": (sum(int(n) for n in socket.groups()) if socket else 0)
        + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def routes(exports_dir: Path, export_ids: list[str]) -> list[str]:
    """/api/models, then per export its manifest, its smallest .tflite and one TFJS fp32 weight shard."""
    paths = ["/api/models"]
    for export_id in export_ids:
        manifest = json.loads((exports_dir / export_id / "manifest.json").read_text())
        variants = manifest["variants"]
        paths.append(f"/models/{export_id}/manifest.json")
        tflite = min((v for v in variants.values() if v["target"] == "tflite"), key=lambda v: v["bytes"])
        paths.append(f"/models/{export_id}/{tflite['entry']}")
        shards = [f for f in variants["tfjs-fp32"]["files"] if f["path"].endswith(".bin")]
        paths.append(f"/models/{export_id}/{max(shards, key=lambda f: f['bytes'])['path']}")
    return paths


def run(exports_dir: Path, export_ids: list[str], duration_s: int, log: Any) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk (make bench installs it)")
    rows = []
    with EdgeshipServer(exports_dir) as server:
        for path in routes(exports_dir, export_ids):
            url = server.url.rstrip("/") + path
            assert url.startswith("http://127.0.0.1:")  # loopback only
            command = [
                wrk,
                f"-t{THREADS}",
                f"-c{CONNECTIONS}",
                f"-d{duration_s}s",
                "--latency",
                "--timeout",
                "10s",
                url,
            ]
            result = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60)
            if result.returncode != 0:
                raise RuntimeError(f"wrk failed on {path}:\n{result.stderr}")
            size = _route_bytes(exports_dir, path)
            rows.append({"route": path, "bytes": size, **parse(result.stdout)})
            log(f"  {path}: {rows[-1]['requests_per_s']:.0f} req/s, p99 {rows[-1]['p99_ms']:.1f} ms, "
                f"{rows[-1]['errors']} errors")  # fmt: skip
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "tool": version[0] if version else "wrk",
        "threads": THREADS,
        "connections": CONNECTIONS,
        "duration_s": duration_s,
        "rows": rows,
    }


def _route_bytes(exports_dir: Path, path: str) -> int | None:
    if not path.startswith("/models/"):
        return None
    return (exports_dir / path.removeprefix("/models/")).stat().st_size
