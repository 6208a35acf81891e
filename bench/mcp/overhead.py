"""What `askfirst mcp proxy` adds to an allowed MCP tool call.

Two sessions of the official MCP Python client (`ClientSession` over `stdio_client`) call
the same trivial upstream (echo_server.py): one straight, one through `askfirst mcp proxy`
in front of a throwaway askfirst server (127.0.0.1, a temporary SQLite database, a policy
that allows the echo tool). After a warm-up, calls alternate direct, proxied, direct,
proxied… and each is timed on its own; the figures are their percentiles and the
difference between the two paths.

A second phase times what the proxy asks askfirst for each allowed call, over one
kept-alive HTTP connection, to tell how much of the overhead is askfirst's API and how much
the proxy itself: the proposal (`POST /api/v1/calls`), then the execution record
(`POST /api/v1/calls/{id}/execute`), or, on servers that start an allowed call in its
proposal (`run_if_allowed`), the outcome report the proxy sends after the tool ran.

    python overhead.py [--bin PATH] [--calls 500] [--warmup 50] [--no-api]

The askfirst binary is `--bin`, else $ASKFIRST_BIN, else `askfirst` on PATH. Exits non-zero
with a message when something is missing or a call fails; never on slow figures.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from importlib import metadata
from pathlib import Path

try:
    from mcp import ClientSession, StdioServerParameters, stdio_client
except ImportError:
    sys.exit(
        "error: the MCP Python SDK is not installed: pip install -r "
        "bench/mcp/requirements.txt (scripts/bench.sh mcp installs it in a venv)"
    )

HERE = Path(__file__).resolve().parent
ECHO_SERVER = HERE / "echo_server.py"
POLICY = HERE / "policy.toml"
# The proxy's --name: the echo tool is proposed as `bench.echo` (policy.toml allows it).
SERVER_NAME = "bench"
TOOL = "echo"
# The targets for the proxied call over the direct one.
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0


class BenchError(Exception):
    """Something the benchmark needs is missing or misbehaved: reported in one line."""


def fail(msg: str) -> None:
    raise BenchError(msg)


def run_async(coro):
    """`asyncio.run`, with the one error out of the MCP SDK's task groups (which wrap what
    a session's body raised in exception groups) as a `BenchError`."""
    try:
        return asyncio.run(coro)
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        while getattr(e, "exceptions", None):  # an exception group: its first error
            e = e.exceptions[0]
        if isinstance(e, BenchError):
            raise e from None
        raise BenchError(f"{type(e).__name__}: {e}") from None


def on_sigterm(_signum, _frame):
    """SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so the cleanup runs."""
    raise KeyboardInterrupt


# --- the throwaway askfirst server ------------------------------------------------------


class Askfirst:
    """An askfirst server on 127.0.0.1 with its database in `tmp`, and one agent's key."""

    def __init__(self, binary: str, tmp: Path):
        self.binary = binary
        self.tmp = tmp
        self.db = tmp / "askfirst.db"
        self.log_path = tmp / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.key = ""

    def cli(self, *args: str) -> str:
        res = subprocess.run(
            [self.binary, "--db", str(self.db), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if res.returncode != 0:
            fail(f"`askfirst {' '.join(args)}` failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    def start(self) -> None:
        # Before anyone has an account, an import applies at once (provisioning).
        self.cli("policy", "import", str(POLICY))
        out = self.cli("agent", "create", "mcp-bench", "--json")
        try:
            self.key = json.loads(out)["key"]
        except (ValueError, KeyError, TypeError):
            fail(f"`askfirst agent create --json` printed no key: {out[:200]!r}")
        (self.tmp / "site").mkdir()
        env = {**os.environ, "ASKFIRST_LOG_FORMAT": "json"}
        with open(self.log_path, "wb") as log:
            # Port 0: the server picks a free port and logs it.
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--db", str(self.db), "--addr", "127.0.0.1:0",
                 "--site-root", str(self.tmp / "site")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not self.url:
            if self.proc.poll() is not None:
                fail(f"askfirst serve exited ({self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                fail(f"askfirst serve did not start listening within 30 s: {self.log_tail()}")
            m = re.search(r'"askfirst listening","addr":"([^"]+)"', self.log_path.read_text())
            if m:
                self.url = f"http://{m.group(1)}"
            else:
                time.sleep(0.05)
        status, body = self.request("GET", "/healthz")
        if status != 200:
            fail(f"GET /healthz answered {status}: {body!r}")

    def log_tail(self, lines: int = 10) -> str:
        try:
            return " | ".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, body: dict | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
        """One request with the agent's key; `conn` keeps the connection alive."""
        own = conn is None
        if own:
            conn = self.connect()
        headers = {"Authorization": f"Bearer {self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read()
        if own:
            conn.close()
        try:
            return res.status, json.loads(raw) if raw else {}
        except ValueError:
            return res.status, {"raw": raw.decode(errors="replace")}

    def connect(self) -> http.client.HTTPConnection:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a graceful shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the measurement --------------------------------------------------------------------


def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, -(-len(sorted_ns) * p // 100))  # ceil(n * p / 100)
    return sorted_ns[int(rank) - 1] / 1e6


def summary(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1] / 1e6,
        "mean": sum(s) / len(s) / 1e6,
    }


def print_table(rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"  {'':<36} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}   (ms)")
    for name, st in rows:
        cols = " ".join(f"{st[k]:8.3f}" for k in ("p50", "p90", "p99", "max", "mean"))
        print(f"  {name:<36} {cols}")


def print_cpu(cpu: dict[str, float], per: str) -> None:
    if cpu:
        parts = ", ".join(f"{name} {us:.0f} µs" for name, us in cpu.items())
        print(f"  CPU per {per}: {parts}")


async def call_echo(session: ClientSession, label: str, text: str) -> int:
    """One echo call, checked; returns its duration in nanoseconds."""
    start = time.perf_counter_ns()
    res = await session.call_tool(TOOL, {"text": text})
    elapsed = time.perf_counter_ns() - start
    got = " ".join(c.text for c in res.content if getattr(c, "type", "") == "text")
    if res.is_error or got != text:
        fail(f"{label} echo call failed (is_error={res.is_error}): {got[:300]!r}")
    return elapsed


async def open_session(stack: AsyncExitStack, params: StdioServerParameters, label: str,
                       errlog) -> ClientSession:
    try:
        read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        session = await stack.enter_async_context(ClientSession(read, write))
        await asyncio.wait_for(session.initialize(), 30)
        tools = await asyncio.wait_for(session.list_tools(), 30)
    except (OSError, asyncio.TimeoutError) as e:
        fail(f"could not start the {label} MCP session ({params.command}): {e!r}")
    if TOOL not in {t.name for t in tools.tools}:
        fail(f"the {label} session lists no `{TOOL}` tool")
    return session


def cpu_ns(pid: int | None) -> int | None:
    """CPU time (user + system) process `pid` has used, from /proc; None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def proxy_pid(binary: str) -> int | None:
    """The `askfirst mcp proxy` this process started (a child), from /proc."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and \
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if argv[:3] == [binary.encode(), b"mcp", b"proxy"]:
                    return int(entry.name)
        except (OSError, IndexError):
            continue
    return None


class CpuMeter:
    """CPU time a set of processes used from its creation to `per_call`."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = pids
        self.before = {name: cpu_ns(pid) for name, pid in pids.items()}

    def per_call(self, calls: int) -> dict[str, float]:
        """Microseconds of CPU per call, by process (those /proc could tell)."""
        out = {}
        for name, pid in self.pids.items():
            after = cpu_ns(pid)
            if after is not None and self.before[name] is not None:
                out[name] = (after - self.before[name]) / calls / 1e3
        return out


async def measure_mcp(af: Askfirst, calls: int, warmup: int, pause: float,
                      errlog) -> tuple[list[int], list[int], dict[str, float]]:
    upstream = [str(ECHO_SERVER)]
    direct_params = StdioServerParameters(command=sys.executable, args=upstream)
    proxied_params = StdioServerParameters(
        command=af.binary,
        args=["mcp", "proxy", "--url", af.url, "--key-env", "ASKFIRST_KEY",
              "--name", SERVER_NAME, "--session", "mcp-bench", "--", sys.executable, *upstream],
        env={"ASKFIRST_KEY": af.key},
    )
    async with AsyncExitStack() as stack:
        direct = await open_session(stack, direct_params, "direct", errlog)
        proxied = await open_session(stack, proxied_params, "proxied", errlog)
        for i in range(warmup):
            await call_echo(direct, "direct", f"warm-up {i}")
            await call_echo(proxied, "proxied", f"warm-up {i}")
        meter = CpuMeter({"askfirst mcp proxy": proxy_pid(af.binary),
                          "askfirst serve": af.proc.pid})
        d, p = [], []
        for i in range(calls):
            d.append(await call_echo(direct, "direct", f"call {i}"))
            if pause:
                await asyncio.sleep(pause)
            p.append(await call_echo(proxied, "proxied", f"call {i}"))
            if pause:
                # Work the proxy defers past its answer (an outcome report) ends here,
                # not in the next direct call.
                await asyncio.sleep(pause)
        return d, p, meter.per_call(calls)


class ApiTiming:
    """askfirst's API alone, asked what the proxy asks per allowed call: its two requests
    timed apart, and the server's CPU per call."""

    def __init__(self, first: str, second: str, on_path: bool):
        self.first, self.second = first, second
        self.second_on_path = on_path  # whether the client's answer waits for the second
        self.a: list[int] = []
        self.b: list[int] = []
        self.cpu: dict[str, float] = {}


def measure_api(af: Askfirst, calls: int, warmup: int) -> ApiTiming:
    """Servers since `run_if_allowed` start an allowed call in the proposal, and the proxy
    reports the outcome after the tool ran, without the client waiting for it; older ones
    refuse the field, and the proxy records execution with a second request first. This
    times what the server under test speaks."""
    conn = af.connect()

    def propose(i: int, run_if_allowed: bool) -> tuple[int, dict]:
        body = {"session": "mcp-bench-api", "tool": f"{SERVER_NAME}.{TOOL}",
                "args": {"text": f"api {i}"}, "join_open": True}
        if run_if_allowed:
            body["run_if_allowed"] = True
        return af.request("POST", "/api/v1/calls", body, conn)

    try:
        status, probe = propose(-1, True)
        modern = status < 300
        if modern:
            t = ApiTiming("POST /api/v1/calls (run_if_allowed)",
                          "POST /api/v1/calls/{id}/outcome", on_path=False)
            second_path, second_body = "outcome", {"result": "succeeded", "detail": None}
            want = "running"
            af.request("POST", f"/api/v1/calls/{probe['id']}/outcome", second_body, conn)
        else:
            t = ApiTiming("POST /api/v1/calls (allowed)", "POST /api/v1/calls/{id}/execute",
                          on_path=True)
            second_path, second_body, want = "execute", None, "allowed"
        meter = None
        for i in range(warmup + calls):
            if i == warmup:
                meter = CpuMeter({"askfirst serve": af.proc.pid})
            t0 = time.perf_counter_ns()
            status, call = propose(i, modern)
            t1 = time.perf_counter_ns()
            if status >= 300 or call.get("status") != want:
                fail(f"POST /api/v1/calls answered {status}: {call}")
            status, res = af.request("POST", f"/api/v1/calls/{call['id']}/{second_path}",
                                     second_body, conn)
            t2 = time.perf_counter_ns()
            if status != 200:
                fail(f"POST /api/v1/calls/{{id}}/{second_path} answered {status}: {res}")
            if i >= warmup:
                t.a.append(t1 - t0)
                t.b.append(t2 - t1)
        t.cpu = meter.per_call(calls) if meter else {}
        return t
    finally:
        conn.close()


def machine_line(binary: str) -> str:
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except OSError:
        version = "askfirst (version unknown)"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"mcp {metadata.version('mcp')}, {version}, load average {load}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("ASKFIRST_BIN") or shutil.which("askfirst"),
                    help="the askfirst binary (default: $ASKFIRST_BIN, else askfirst on PATH)")
    ap.add_argument("--calls", type=int, default=500, help="measured calls per path (500)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed calls per path first (50)")
    ap.add_argument("--pause-ms", type=float, default=0,
                    help="untimed pause after each timed call (0: back to back)")
    ap.add_argument("--no-api", action="store_true",
                    help="skip timing askfirst's API alone (the proxy's requests per call)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (database, server log) and print it")
    args = ap.parse_args()
    if not args.bin or not os.access(args.bin, os.X_OK):
        sys.exit(f"error: no askfirst binary (got {args.bin!r}): pass --bin PATH or set "
                 "ASKFIRST_BIN (cargo build --release --no-default-features --features ssr)")
    if args.calls < 1 or args.warmup < 0 or args.pause_ms < 0:
        sys.exit("error: --calls must be at least 1, --warmup and --pause-ms at least 0")
    binary = os.path.abspath(args.bin)

    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="askfirst-bench-mcp."))
    af = Askfirst(binary, tmp)
    errlog = open(tmp / "mcp-stderr.log", "w")  # the upstreams' and the proxy's stderr
    try:
        af.start()
        print(machine_line(binary))
        print(f"askfirst {af.url} (SQLite in {tmp}); upstream {ECHO_SERVER.name} via "
              f"{Path(sys.executable).name}; {args.warmup} warm-up + {args.calls} timed calls "
              "per path, interleaved direct/proxied"
              + (f", {args.pause_ms:g} ms apart" if args.pause_ms else ", back to back"))
        direct, proxied, cpu = run_async(
            measure_mcp(af, args.calls, args.warmup, args.pause_ms / 1000, errlog))
        d, p = summary(direct), summary(proxied)
        diff = {k: p[k] - d[k] for k in d}
        print("\nMCP tools/call `echo`, official Python client, stdio:")
        print_table([("direct (upstream alone)", d),
                     ("through askfirst mcp proxy", p),
                     ("proxied − direct (per percentile)", diff)])
        verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
        print(f"\n  p50 overhead {diff['p50']:+.3f} ms (target ≤ +{TARGET_P50_MS:g} ms: "
              f"{verdict(diff['p50'] <= TARGET_P50_MS)})")
        print(f"  p99 overhead {diff['p99']:+.3f} ms (target ≤ +{TARGET_P99_MS:g} ms: "
              f"{verdict(diff['p99'] <= TARGET_P99_MS)})")
        print_cpu(cpu, "proxied call")
        if not args.no_api:
            api = measure_api(af, args.calls, args.warmup)
            print("\naskfirst's API alone, as the proxy uses it per allowed call "
                  "(Python http.client, one kept-alive connection):")
            print_table([(api.first, summary(api.a)),
                         (api.second, summary(api.b)),
                         ("both", summary([a + b for a, b in zip(api.a, api.b)]))])
            if not api.second_on_path:
                print("  (the proxy sends the second after the tool ran; its client does "
                      "not wait for it)")
            print_cpu(api.cpu, "call (both requests)")
        return 0
    except BenchError as e:
        errlog.flush()
        stderr_tail = (tmp / "mcp-stderr.log").read_text().strip().splitlines()[-5:]
        print(f"error: {e}", file=sys.stderr)
        for line in stderr_tail:
            print(f"  stderr of the MCP processes: {line}", file=sys.stderr)
        if not args.keep:
            print("  (--keep keeps the server log and that stderr)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        af.stop()
        errlog.close()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
