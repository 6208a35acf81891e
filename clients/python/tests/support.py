"""Helpers of the test suite: the askfirst server under test, people deciding with the CLI,
a misbehaving proxy and a webhook receiver."""

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import httpx

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "a long enough password"
APPROVER = "ann"

# Made only of gates and denies on top of "allow": imported before anyone has an account,
# so it applies at once. Deadlines are short where a test waits for one to pass.
POLICY = """
default_effect = "allow"

[[rules]]
name = "deny-forbidden"
[rules.match]
tool = "forbidden_*"
[rules.effect]
kind = "deny"
message = "forbidden tools never run"

[[rules]]
name = "gate-quick"
description = "Expires after 2 seconds."
[rules.match]
tool = "quick_*"
[rules.effect]
kind = "gate"
deadline_secs = 2

[[rules]]
name = "gate-extendable"
description = "Expires after 3 seconds unless someone extends it."
[rules.match]
tool = "extend_*"
[rules.effect]
kind = "gate"
deadline_secs = 3
extend_max_secs = 120

[[rules]]
name = "gate-people"
[rules.match]
tool = "gated_*"
[rules.effect]
kind = "gate"
deadline_secs = 120
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Agent:
    name: str
    key: str
    webhook_secret: str


class Server:
    """A running askfirst server and the CLI that manages its database."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.db = workdir / "askfirst.db"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._browser: Optional[httpx.Client] = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ASKFIRST_")}

    # -- the process

    def start(self) -> None:
        policy = self.workdir / "policy.toml"
        policy.write_text(POLICY)
        self.cli("policy", "import", str(policy), "--json")
        self.cli("user", "add", APPROVER, "--role", "approver", "--password-stdin", stdin=PASSWORD)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "serve",
                    "--addr",
                    f"127.0.0.1:{self.port}",
                    "--db",
                    str(self.db),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"askfirst exited at start:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if (
                    httpx.get(f"{self.base_url}/.well-known/jwks.json", timeout=1).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"askfirst did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- the CLI

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        res = subprocess.run(
            [str(self.binary), "--db", str(self.db), *args],
            input=(stdin + "\n") if stdin is not None else None,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=60,
        )
        if res.returncode != 0:
            raise RuntimeError(f"askfirst {' '.join(args)} failed: {res.stderr}{res.stdout}")
        return res.stdout

    def cli_json(self, *args: str, stdin: Optional[str] = None) -> Any:
        return json.loads(self.cli(*args, "--json", stdin=stdin))

    def new_agent(self) -> Agent:
        name = f"py-{uuid.uuid4().hex[:10]}"
        made = self.cli_json("agent", "create", name)
        return Agent(name, made["key"], made["webhook_secret"])

    def pending(self, agent: Agent, tool: Optional[str] = None) -> list[dict[str, Any]]:
        calls = self.cli_json("calls", "pending")
        return [
            c for c in calls if c["agent"] == agent.name and (tool is None or c["tool"] == tool)
        ]

    def approve(self, call_id: str, args: Optional[dict[str, Any]] = None) -> None:
        extra = ["--args", json.dumps(args)] if args is not None else []
        self.cli("calls", "approve", call_id, "--user", APPROVER, *extra, stdin=PASSWORD)

    def deny(
        self,
        call_id: str,
        feedback: Optional[str] = None,
        *,
        reason: Optional[str] = None,
        do_not_retry: bool = False,
    ) -> None:
        extra: list[str] = []
        if feedback is not None:
            extra += ["--feedback", feedback]
        if reason is not None:
            extra += ["--reason", reason]
        if do_not_retry:
            extra.append("--do-not-retry")
        self.cli("calls", "deny", call_id, "--user", APPROVER, *extra, stdin=PASSWORD)

    def extend(self, call_id: str, minutes: int, reason: str) -> None:
        """Gives a pending call more time, as the approver does on the decision card."""
        if self._browser is None:
            browser = httpx.Client(base_url=self.base_url, headers={"Accept": "application/json"})
            res = browser.post("/rpc/sign_in", data={"username": APPROVER, "password": PASSWORD})
            assert res.status_code == 200, res.text
            self._browser = browser
        res = self._browser.post(
            "/rpc/extend", data={"id": call_id, "minutes": str(minutes), "reason": reason}
        )
        assert res.status_code == 200, res.text


class Decider:
    """Waits in a thread for this agent's call of ``tool`` to be pending, then decides it
    with ``action(call_id)`` — a person reacting as soon as the call shows up."""

    def __init__(
        self, server: Server, agent: Agent, tool: str, action: Callable[[str], None]
    ) -> None:
        self.server, self.agent, self.tool, self.action = server, agent, tool, action
        self.call_id: Optional[str] = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                found = self.server.pending(self.agent, self.tool)
                if found:
                    self.call_id = found[0]["id"]
                    self.action(found[0]["id"])
                    return
                time.sleep(0.05)
            raise AssertionError(f"no pending call of {self.tool} appeared")
        except BaseException as e:
            self.error = e

    def join(self) -> str:
        self._thread.join(30)
        if self.error is not None:
            raise self.error
        assert self.call_id is not None
        return self.call_id


def decide(server: Server, agent: Agent, tool: str, action: Callable[[str], None]) -> Decider:
    return Decider(server, agent, tool, action)


# --- A proxy that misbehaves on purpose ----------------------------------------------------


@dataclass
class Seen:
    """A request the proxy received."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Rule:
    """Misbehave ``times`` times on requests whose method and path start as given (and,
    with ``path_suffix``, end so, query string aside):
    ``cut`` forwards the request and drops the connection instead of the answer;
    ``busy`` answers 503 with ``Retry-After: 1`` without forwarding; ``stall`` never
    answers; ``cut_after_event`` relays an event stream until its first event, then drops
    the connection."""

    method: str
    path_prefix: str
    action: str
    times: int = 1
    path_suffix: str = ""


class Proxy:
    """An HTTP relay in front of the server on 127.0.0.1. Each request goes upstream on a
    connection of its own (``Connection: close``), so rules apply per request."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def add(
        self, method: str, path_prefix: str, action: str, times: int = 1, path_suffix: str = ""
    ) -> None:
        with self._lock:
            self.rules.append(Rule(method, path_prefix, action, times, path_suffix))

    def requests(self, method: str, path: str) -> list[Seen]:
        """The requests seen for exactly this method and path (query string ignored)."""
        with self._lock:
            return [s for s in self.seen if s.method == method and s.path.split("?")[0] == path]

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _rule_for(self, method: str, path: str) -> Optional[str]:
        with self._lock:
            for rule in self.rules:
                if (
                    rule.times > 0
                    and method == rule.method
                    and path.startswith(rule.path_prefix)
                    and path.split("?")[0].endswith(rule.path_suffix)
                ):
                    rule.times -= 1
                    return rule.action
        return None

    def _serve(self, conn: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                request = _read_request(conn)
                if request is None:
                    return
                head, body = request
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                with self._lock:
                    self.seen.append(Seen(method, path, headers))
                action = self._rule_for(method, path)
                if action == "busy":
                    payload = b'{"error":{"code":"busy","message":"try again in a second"}}'
                    conn.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                        b"Content-Type: application/json\r\nContent-Length: "
                        + str(len(payload)).encode()
                        + b"\r\n\r\n"
                        + payload
                    )
                    continue
                if action == "stall":
                    self._closed.wait(60)
                    return
                kept = [
                    line
                    for line in lines[1:]
                    if line and not line.lower().startswith("connection:")
                ]
                upstream_head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""])
                up = socket.create_connection(("127.0.0.1", self.upstream_port))
                with up:
                    up.sendall(upstream_head.encode("latin-1") + body)
                    if action == "cut":
                        while up.recv(65536):
                            pass  # the server answered in full; the agent gets nothing
                        return
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            return  # upstream closed: so does this connection
                        conn.sendall(chunk)
                        if action == "cut_after_event" and b"event: call" in chunk:
                            return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _read_request(conn: socket.socket) -> Optional[tuple[bytes, bytes]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head, rest[:length]


# --- A webhook receiver ---------------------------------------------------------------------


@dataclass
class Delivery:
    headers: list[tuple[str, str]]
    body: bytes


class WebhookReceiver:
    """Receives webhooks on 127.0.0.1 and keeps each request's headers and raw body."""

    def __init__(self) -> None:
        import http.server
        import queue

        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.deliveries.put(Delivery(list(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 15) -> Delivery:
        return self.deliveries.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
