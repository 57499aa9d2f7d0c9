"""``/``: the page that links the console, the portal, the API reference and, when configured, the simulator."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from seatflow.cli import serve
from seatflow.config import Settings
from seatflow.web.app import create_app
from tests.web.pages import loaded_from_elsewhere, read


@pytest.fixture
def visitor(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The app with no simulator configured (whatever SEATFLOW_SIMULATOR_URL the environment holds)."""
    without_simulator = settings.model_copy(update={"simulator_url": ""})
    with TestClient(create_app(without_simulator, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_home_links_the_console_the_portal_and_the_api_reference_and_each_link_answers(visitor: TestClient) -> None:
    page = visitor.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = read(page.text)
    assert {"/console/", "/portal/", "/api/v1/docs", "/api/v1/openapi.json"} <= set(links.urls)
    assert "simulator" not in page.text.lower()
    assert "script" not in links.tags
    assert loaded_from_elsewhere(page.text) == []
    for url in links.urls:
        assert visitor.get(url).status_code in (200, 303), url  # the console and the portal ask for a login


def test_home_links_the_simulator_when_one_is_configured(engine: Engine, settings: Settings) -> None:
    configured = settings.model_copy(update={"simulator_url": "http://127.0.0.1:8100"})
    with TestClient(create_app(configured, engine=engine)) as client:
        page = client.get("/")

    assert "http://127.0.0.1:8100/_sim/state" in read(page.text).urls
    assert "Partner Center simulator" in page.text
    assert loaded_from_elsewhere(page.text, allowed=("http://127.0.0.1:8100/",)) == []


@pytest.mark.parametrize("url", ["javascript:alert(1)", 'http://x" onclick="a', "ftp://files.example", "127.0.0.1"])
def test_a_simulator_address_that_is_no_web_address_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="simulator_url"):
        Settings(simulator_url=url)


def test_the_simulator_address_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEATFLOW_SIMULATOR_URL", "http://sim.internal:8100")
    assert Settings().simulator_url == "http://sim.internal:8100"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_demos_home_page_links_the_demos_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    homes: list[str] = []

    def serve_once(app: FastAPI, **_options: Any) -> None:  # instead of serving until Ctrl-C
        with TestClient(app) as client:
            homes.append(client.get("/").text)

    monkeypatch.setattr(uvicorn, "run", serve_once)
    monkeypatch.chdir(tmp_path)
    simulator_port = _free_port()

    serve.demo(
        host="127.0.0.1",
        port=8000,
        simulator_port=simulator_port,
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        keep=False,
    )

    (home,) = homes
    assert f"http://127.0.0.1:{simulator_port}/_sim/state" in read(home).urls
