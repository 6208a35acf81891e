"""The test session starts a real askfirst server (the built binary: ``ASKFIRST_BIN``, default
``target/debug/askfirst`` in the repository) on 127.0.0.1 with a fresh database in a
temporary directory, and decides calls the way people do: with the ``askfirst calls`` CLI
as soon as a call is pending."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import askfirst

from support import REPO, Agent, Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = Path(os.environ.get("ASKFIRST_BIN") or REPO / "target" / "debug" / "askfirst")
    if not binary.is_absolute():
        binary = REPO / binary
    if not binary.is_file():
        pytest.fail(
            f"no askfirst binary at {binary}: build it (scripts/build.sh) or set ASKFIRST_BIN",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("askfirst")
    srv = Server(binary, workdir)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        if os.environ.get("ASKFIRST_KEEP_TEST_DIR"):
            print(f"askfirst test data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def agent(server: Server) -> Agent:
    """A fresh agent for each test: its calls, events and webhooks are its own."""
    return server.new_agent()


@pytest.fixture
def client(server: Server, agent: Agent) -> Iterator[askfirst.Client]:
    with askfirst.Client(server.base_url, agent.key) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
