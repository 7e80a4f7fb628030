"""`edgeship serve` on a free loopback port, for the browser benchmark and the load test."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


class EdgeshipServer:
    """`edgeship serve DIR --host 127.0.0.1 --port 0`; the URL is read from the line it prints."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    def __enter__(self) -> EdgeshipServer:
        command = [str(BIN / "edgeship"), "serve", str(self.directory), "--host", "127.0.0.1", "--port", "0"]
        # Its output goes to a file, never to a pipe nobody reads: under load waitress logs queue warnings,
        # and a full pipe would block the server mid-benchmark.
        self._log = tempfile.NamedTemporaryFile(prefix="edgeship-bench-serve-", suffix=".log")
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._process.poll() is None:
            match = re.search(r"on (http://127\.0\.0\.1:\d+/)", Path(self._log.name).read_text())
            if match:
                self.url = match.group(1)
                return self
            time.sleep(0.1)
        output = Path(self._log.name).read_text()
        self.__exit__()
        raise RuntimeError("edgeship serve did not start:\n" + output)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()
