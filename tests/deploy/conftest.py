"""Fixtures for the deployment tests: project metadata, the deploy/ files, and a real local Ray
head (loopback only, token authentication on) for ``ray job submit`` end to end.

The head is started with ``ray start --head --block`` in a new session, with its own temp dir
(so no other ``ray.init()`` on this machine discovers and joins it) and explicit free ports, and
is stopped by signalling exactly that process group: never ``ray stop``, which would also stop
every other Ray instance on the machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomllib

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="session")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def pinned(pyproject: dict, name: str) -> str:
    """The exact version pinned for ``name`` (``name==X`` or ``name[extra]==X``) in pyproject."""
    project = pyproject["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    for spec in specs:
        base = spec.split(";")[0].replace(" ", "")
        head, sep, version = base.partition("==")
        if sep and head.split("[")[0].lower() == name:
            return version
    raise AssertionError(f"{name} is not pinned with == in pyproject.toml")


@pytest.fixture(scope="session")
def ray_pin(pyproject) -> str:
    return pinned(pyproject, "ray")


@pytest.fixture(scope="session")
def torch_pin(pyproject) -> str:
    return pinned(pyproject, "torch")


PYTHON_TAG = "py311"
"""The Python of the images: rayproject/ray:<ray>-py311-*. Must satisfy requires-python."""


def ray_cli() -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts"]


class LocalHead:
    def __init__(self, proc: subprocess.Popen, address: str, token: str, temp_dir: str, log: Path):
        self.proc, self.address, self.token, self.temp_dir, self.log = proc, address, token, temp_dir, log

    def diagnostics(self, lines: int = 40) -> str:
        """Tails of the head's own log and its dashboard log, for assertion messages."""
        out = [f"ray start exit code: {self.proc.poll()}"]
        logs = Path(self.temp_dir) / "session_latest" / "logs"
        for path in (self.log, logs / "dashboard.log", logs / "dashboard_JobHead.log", logs / "gcs_server.out"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(out)

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment of a client of this head: address and token, nothing inherited that points
        elsewhere (a RAY_ADDRESS of the caller's own cluster, another token)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update({"RAY_ADDRESS": self.address, "RAY_AUTH_TOKEN": self.token, **extra})
        return env


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):  # up, and asking for the token: good
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def _wait_jobs_api(head: LocalHead, timeout: float) -> None:
    """The dashboard answers before the Jobs module is ready; poll it with the real client."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        r = subprocess.run([*ray_cli(), "job", "list", "--address", head.address], env=head.client_env(
            RAY_AUTH_MODE="token"), capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return
        last = r.stderr[-2000:]
        time.sleep(1)
    raise TimeoutError(f"Jobs API not ready: {last}")


def _remove(folder: str) -> None:
    """Remove the head's temp dir; processes that were still exiting may write one last log."""
    for _ in range(5):
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            return
        time.sleep(1)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the `ray start --block` process (it shuts its node down), then make sure nothing of
    its process group survives."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(2 if sig == signal.SIGTERM else 0)
    with contextlib.suppress(subprocess.TimeoutExpired):  # pragma: no cover
        proc.wait(timeout=10)


def _start_head(log: Path) -> LocalHead:
    token = secrets.token_hex(24)
    # Short path: Ray puts Unix sockets under it (108-byte limit).
    temp_dir = tempfile.mkdtemp(prefix="frd", dir="/tmp")
    dashboard = free_port()
    ports = {
        "--port": free_port(), "--dashboard-port": dashboard,
        "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port(),
        "--node-manager-port": free_port(), "--object-manager-port": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token,
        # Keep every Ray address on the loopback interface: Ray otherwise replaces 127.0.0.1 with
        # the machine's routable address (this switch is what Ray itself uses on laptops).
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        # `python` in the job's entrypoint must be this interpreter (the one with the deps).
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # SIGTERM: tear down at once, no drain wait
        # The dashboard (Jobs API) gets 60 s by default to come up; a CI machine shared with other
        # work can need more.
        RAY_DASHBOARD_STARTUP_TIMEOUT_S="300",
        # ... and the raylet waits only seconds for its (Python) agents to report their ports.
        RAY_agent_register_timeout_ms="300000",
    )
    cmd = [*ray_cli(), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
           "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=2", "--num-gpus=0",
           f"--temp-dir={temp_dir}", "--object-store-memory=200000000", "--disable-usage-stats",
           *[f"{k}={v}" for k, v in ports.items()]]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=temp_dir)
    return LocalHead(proc, f"http://127.0.0.1:{dashboard}", token, temp_dir, log)


def _wait_started(head: LocalHead, timeout: float) -> None:
    """Until `ray start` says the node is up (the dashboard answers earlier than that)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if head.proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.proc.returncode}")
        if b"Ray runtime started." in head.log.read_bytes():
            return
        time.sleep(0.5)
    raise TimeoutError(f"ray start did not finish within {timeout:.0f} s")


OVERLOAD_SIGNS = ("The current node timed out during startup", "WaitForDashboardAgentPorts")
"""How a head that could not start in time looks: Ray gives the raylet a fixed 30 s (not
configurable) to register, and the raylet first waits for its Python agents to start."""


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A Ray head on 127.0.0.1 with the dashboard (Jobs API) and token authentication.

    On a machine saturated by other work a head can miss Ray's fixed start-up windows and exit;
    that is retried. If every attempt ends that way the test is skipped with the reason (shown
    by -ra); any other start-up failure fails it."""
    folder = tmp_path_factory.mktemp("ray_head")
    attempts = 3
    for attempt in range(1, attempts + 1):
        head = _start_head(folder / f"ray_start_{attempt}.log")
        try:
            _wait_started(head, timeout=360)
            _wait_http(f"{head.address}/api/version", head.proc, timeout=120)
            _wait_jobs_api(head, timeout=120)
        except (RuntimeError, TimeoutError):
            diagnostics = head.diagnostics()
            raylet = Path(head.temp_dir) / "session_latest" / "logs" / "raylet.out"
            raylet_text = raylet.read_text(errors="replace") if raylet.exists() else ""
            _stop(head.proc)
            _remove(head.temp_dir)
            overloaded = any(sign in diagnostics + raylet_text for sign in OVERLOAD_SIGNS)
            if not overloaded:
                raise RuntimeError(f"could not start a local Ray head:\n{diagnostics}") from None
            if attempt == attempts:
                pytest.skip(f"this machine is too busy (load average {os.getloadavg()[0]:.0f} on "
                            f"{os.cpu_count()} CPUs) for a Ray head to start within Ray's fixed start-up "
                            f"timeouts; {attempts} attempts")
            time.sleep(10)
            continue
        break
    try:
        yield head
    finally:
        _stop(head.proc)
        _remove(head.temp_dir)
