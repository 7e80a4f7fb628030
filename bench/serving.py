"""`edgeship serve` on a free loopback port, for the browser benchmark and the load test."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


class EdgeshipServer:
    """`edgeship serve DIR --host 127.0.0.1 --port 0`; the URL is read from the line it prints."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> EdgeshipServer:
        command = [str(BIN / "edgeship"), "serve", str(self.directory), "--host", "127.0.0.1", "--port", "0"]
        self._process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line and self._process.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if match:
                self.url = match.group(1)
                return self
        self.__exit__()
        raise RuntimeError("edgeship serve did not start:\n" + "".join(seen))

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
