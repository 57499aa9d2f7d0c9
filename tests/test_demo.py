"""The README's demo command, as a new user runs it: the API, portal and console, a worker and the Partner Center
simulator, with the demo catalog, Pine Cone Vet and the E5 voice chain loaded and provisioned."""

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

from tests.processes import runs_tested_source


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_everything_and_provisions_pine_cone_vet(tmp_path: Path) -> None:
    port, simulator_port = _free_port(), _free_port()
    env = {**os.environ, "SEATFLOW_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seatflow", "demo", "--port", str(port), "--simulator-port", str(simulator_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=runs_tested_source(env),
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

        # The worker provisions the demo at the simulator: Pine Cone Vet's parents and the E5 voice chain.
        simulator = f"http://127.0.0.1:{simulator_port}"
        assert any(simulator in line for line in output)
        held: dict[str, int] = {}
        for _ in range(100):
            held = {
                s["offerName"]: s["quantity"]
                for s in httpx.get(f"{simulator}/_sim/state", timeout=5).json()["subscriptions"]
            }
            if len(held) == 6:
                break
            time.sleep(0.2)
        assert held["Microsoft 365 E3"] == 50
        assert held["Enterprise Mobility + Security E3"] == 20
        assert held["Microsoft Teams Domestic Calling Plan"] == 5

        # The printed portal login works (the login form's CSRF cookie and field, then the session).
        login_line = next(line for line in output if "newyork@" in line)
        email, password = (part.strip() for part in login_line.split("New York:")[1].split(" / "))
        with httpx.Client(base_url=base, timeout=5) as browser:
            page = browser.get("/portal/login")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            answer = browser.post("/portal/login", data={"email": email, "password": password, "csrf_token": token})
            assert answer.status_code == 303, answer.text
            home = browser.get("/portal/")
            assert "Pine Cone Vet - New York City" in home.text
            assert "Pine Cone Vet - Atlanta" not in home.text
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
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{simulator_port}/_sim/state", timeout=2)  # the simulator stopped too
