"""`make demo` trains, exports all 8 variants, then serves and says where (the README's first command)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_make_demo_ends_with_the_server_running_and_says_so(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"PORT={port}", f"DEMO_DIR={tmp_path / 'demo'}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 600
        said = ""
        for line in process.stdout:
            if "Serving" in line:
                said = line.strip()
                break
            assert time.monotonic() < deadline
        assert (
            said
            == f"Serving 1 export(s) from {tmp_path / 'demo'} on http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=10) as response:
            models = json.load(response)
        assert models["default"] == "demo" and len(models["models"][0]["manifest"]["variants"]) == 8
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
