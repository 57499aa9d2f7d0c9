"""The README's demo command, as a new user runs it: it serves the API with the demo catalog."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_the_demo_catalog_with_the_printed_key(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SEATFLOW_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seatflow", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        output: list[str] = []
        key = None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("sfk_"):
                key = line.strip()
        assert key, "the demo printed no API key:\n" + "".join(output)
        assert any(f"http://127.0.0.1:{port}/api/v1" in line for line in output)

        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/api/v1/products", timeout=5).status_code == 401
        answer = httpx.get(
            f"{base}/api/v1/products", headers={"Authorization": f"Bearer {key}"}, params={"limit": 100}, timeout=5
        )
        assert answer.status_code == 200
        names = {p["name"] for p in answer.json()["items"]}
        assert {
            "Microsoft 365 E3",
            "Enterprise Mobility + Security E3",
            "Office 365 E5",
            "Microsoft Teams Domestic Calling Plan",
            "Office 365 Extra File Storage",
        } <= names
        assert len(names) == 10
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
            stopped_by_ctrl_c = True
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            stopped_by_ctrl_c = False
    assert stopped_by_ctrl_c, "Ctrl-C (SIGINT) did not stop the demo within 15 s"
