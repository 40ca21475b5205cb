"""`scripts/develop`: the Basix simulator and a real Home Assistant, side by side.

    scripts/develop [--config-dir DIR] [--port 8123] [--sim-port 8765] [--control-port 8766]
                    [--users 20] [--calls-per-minute 30] [--connection-limit 2]
                    [--generation current|newer|older] [--fresh]

Starts `python -m basix_simulator` with steady random traffic and `hass -c DIR` (default: the
repository's `config/`), both on 127.0.0.1 only. Ctrl-C (or SIGTERM) stops both; if Home
Assistant stops on its own, the simulator is stopped too and the exit status is not 0.

The simulator can be stopped and started again on its own, to watch an outage and the
recovery: type `s` and Enter in this terminal, or POST to this script's own endpoints
(`http://127.0.0.1:8766/simulator/stop`, `.../start`, `.../restart`; GET `.../status`). A
simulator that stops by itself is reported and waits to be started again the same ways. It
comes back on the same port with the same users, domain and token.

A folder not onboarded yet is set up through Home Assistant's own HTTP APIs, so that the page
opens on calls coming and going rather than on forms: onboarding with a dev-only owner account
(dev / dev-dev-dev), then a Basix PBX entry for the simulator, made by the config flow as the UI
would. `--fresh` skips that and prints what to enter by hand (the browser test walks that path).

The configuration folder gets `custom_components/basix_cti` as a link to this repository (edit,
restart, test) and `.storage/http` with the address and port: Home Assistant no longer takes
them from configuration.yaml (it would migrate them once and revert them unless confirmed in
the UI). A folder without configuration.yaml (a throwaway one, as the browser test uses) gets
a copy of `config/configuration.yaml`. The simulator's URL, domain and token are also written to
`DIR/basix_simulator.json` for scripts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import contextlib
import ctypes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Any
import urllib.error
import urllib.parse
import urllib.request

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
SIMULATOR_INFO = "basix_simulator.json"
HA_START_TIMEOUT = 600.0  # the first start installs the frontend and other runtime requirements
SIMULATOR_START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
RESTART_EXIT_CODE = 100  # homeassistant.const.RESTART_EXIT_CODE: `hass` exits so to be restarted
# The owner account made when onboarding automatically: for a local, 127.0.0.1-only sandbox.
DEV_USER = {"name": "Developer", "username": "dev", "password": "dev-dev-dev"}
API_TIMEOUT = 60.0  # the config flow waits up to 10 s for the PBX; onboarding sets up analytics
GENERATIONS = ("current", "newer", "older")  # the names code, CLI flags and docs agree on
# A default Home Assistant configuration's included files, created empty as Home Assistant
# itself does for a new configuration: automations saved in the editor load from there.
INCLUDED_FILES = {"automations.yaml": "[]\n", "scripts.yaml": "", "scenes.yaml": ""}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run the Basix simulator and Home Assistant with this integration.",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=ROOT / "config",
        help="Home Assistant configuration folder (default: config/ in the repository)",
    )
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's port (8123)")
    parser.add_argument("--sim-port", type=int, default=8765, help="the simulator's port (8765)")
    parser.add_argument(
        "--control-port",
        type=int,
        default=8766,
        help="this script's own endpoints that stop and start the simulator (8766)",
    )
    parser.add_argument("--users", type=int, default=20, help="users of the simulated PBX (20)")
    parser.add_argument(
        "--connection-limit",
        type=int,
        default=2,
        help="connections the simulator admits per user and application name (2, as Basix)",
    )
    parser.add_argument(
        "--generation",
        choices=GENERATIONS,
        default=None,
        help="the protocol generation the simulator speaks (its default: current)",
    )
    parser.add_argument(
        "--calls-per-minute", type=float, default=30, help="random calls per minute (30; 0: none)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="leave onboarding and adding Basix PBX to be done by hand in the UI",
    )
    return parser.parse_args(argv)


def check_port_free(port: int, what: str) -> None:
    with socket.socket() as probe:
        # As the servers themselves bind: connections of a run just stopped (TIME_WAIT) do not
        # count, only something listening there.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            sys.exit(f"scripts/develop: {HOST}:{port} ({what}) is in use; pick another port.")


def prepare_config(config_dir: Path, port: int) -> None:
    """Configuration, the integration linked in, and the HTTP server bound to HOST:port."""
    config_dir.mkdir(parents=True, exist_ok=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        shutil.copyfile(ROOT / "config" / "configuration.yaml", configuration)
    for name, content in INCLUDED_FILES.items():
        if not (config_dir / name).exists():
            (config_dir / name).write_text(content, encoding="utf-8")

    link = config_dir / "custom_components" / "basix_cti"
    target = ROOT / "custom_components" / "basix_cti"
    link.parent.mkdir(exist_ok=True)
    if link.is_symlink() and link.resolve() != target:
        link.unlink()
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)
    elif not link.is_symlink():
        sys.exit(f"scripts/develop: {link} exists and is not a link to {target}")

    write_http_config(config_dir / ".storage" / "http", port)


def write_http_config(path: Path, port: int) -> None:
    """Make HOST:port the confirmed ("stable") HTTP config, with Home Assistant's own defaults."""
    # Imported here: Home Assistant is only needed for this, and takes a moment to import.
    from homeassistant.components.http import config as http_config  # noqa: PLC0415

    stored: dict[str, Any] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8")).get("data", {})
    stable = stored.get("stable") or {}
    # Other settings made in the UI stay; the metadata is set anew below.
    settings = {
        key: value
        for key, value in stable.items()
        if key not in ("created_at", "error", "error_message")
    }
    stable = {
        **http_config.HTTP_STORAGE_SCHEMA({**settings, "server_host": [HOST], "server_port": port}),
        "created_at": stable.get("created_at")
        or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "error": None,
        "error_message": None,
    }
    document = {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# prctl(PR_SET_PDEATHSIG): looked up now, so a child between fork and exec only makes the call.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when scripts/develop dies, however it dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """A child in its own session: Ctrl-C reaches scripts/develop, which stops it in order."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        # Only a call into libc, looked up beforehand: safe with the output-reading threads.
        preexec_fn=_die_with_parent,  # noqa: PLW1509
        text=True,
        **kwargs,
    )


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the simulator and read what it prints: server, domain, token."""
    process = start(
        [
            str(VENV_BIN / "python"),
            "-u",
            "-m",
            "basix_simulator",
            "--host",
            HOST,
            "--port",
            str(args.sim_port),
            "--users",
            str(args.users),
            "--calls-per-minute",
            str(args.calls_per_minute),
            "--connection-limit",
            str(args.connection_limit),
            # Only when asked for: the simulator's own default is the current generation.
            *(["--generation", args.generation] if args.generation else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    info: dict[str, str] = {}
    lines: list[str] = []
    deadline = time.monotonic() + SIMULATOR_START_TIMEOUT
    reader = _LineReader(process.stdout)
    while not {"server", "domain", "token"} <= info.keys():
        line = reader.next_line(deadline - time.monotonic())
        if line is None:
            process.kill()
            raise RuntimeError("the simulator did not start:\n" + "".join(lines))
        lines.append(line)
        key, sep, value = line.strip().partition(":")
        if sep and key in ("server", "domain", "token"):
            info[key] = value.strip()
    info["control"] = f"http://{HOST}:{args.sim_port}/simulator"
    for line in lines:
        print(f"[simulator] {line}", end="", flush=True)
    reader.forward(lambda line: print(f"[simulator] {line}", end="", flush=True))
    return process, info


class SimulatorControl:
    """The simulator as a child that can be stopped and started again while Home Assistant runs.

    Driven from three threads (the main loop, the HTTP endpoints, the terminal): one lock.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._lock = threading.Lock()
        self._wanted = True  # False once stopped on purpose: its exit is no surprise then
        self._requests: list[dict[str, Any]] = []
        self.process, self.info = start_simulator(args)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> bool:
        """Stop it (an outage, as Home Assistant sees it); whether it was running."""
        with self._lock:
            self._wanted = False
            was_running = self.running
            stop(self.process, "the simulator")
        if was_running:
            print("scripts/develop: simulator stopped (Home Assistant keeps running)", flush=True)
        return was_running

    def start(self) -> bool:
        """Start it again on the same port; whether it was started now.

        The child is started by the main thread, whatever thread asks: the kernel's "parent
        died" signal (PR_SET_PDEATHSIG) follows the thread that forked, and an HTTP request's
        thread ends with its answer, taking a simulator it started along.
        """
        if threading.current_thread() is threading.main_thread():
            return self._start()
        request: dict[str, Any] = {"done": threading.Event()}
        with self._lock:
            self._requests.append(request)
        if not request["done"].wait(SIMULATOR_START_TIMEOUT + 5):
            raise RuntimeError("the simulator did not start in time")
        if isinstance(request.get("error"), RuntimeError):
            raise request["error"]
        return bool(request.get("started"))

    def run_requests(self) -> None:
        """On the main thread: the starts other threads asked for."""
        with self._lock:
            requests, self._requests = self._requests, []
        for request in requests:
            try:
                request["started"] = self._start()
            except RuntimeError as err:
                request["error"] = err
            request["done"].set()

    def _start(self) -> bool:
        with self._lock:
            self._wanted = True
            if self.running:
                return False
            deadline = time.monotonic() + SIMULATOR_START_TIMEOUT
            while True:
                try:
                    self.process, self.info = start_simulator(self._args)
                    break
                except RuntimeError:
                    # The old socket may linger a moment; anything else shows in the output.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        print("scripts/develop: simulator started again", flush=True)
        return True

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def check(self) -> None:
        """Report a simulator that ended without being asked to; it waits to be started."""
        with self._lock:
            if self._wanted and not self.running:
                self._wanted = False
                print(
                    f"scripts/develop: the simulator stopped (exit {self.process.returncode}); "
                    "Home Assistant keeps running. Type s and Enter, or POST "
                    f"{control_url(self._args)}/start, to start it again",
                    flush=True,
                )

    def status(self) -> dict[str, Any]:
        return {"running": self.running, **self.info}


def control_url(args: argparse.Namespace) -> str:
    return f"http://{HOST}:{args.control_port}/simulator"


def serve_control(args: argparse.Namespace, simulator: SimulatorControl) -> ThreadingHTTPServer:
    """This script's own endpoints: stop, start or restart the simulator; its status."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/simulator/status":
                self._answer(200, simulator.status())
            else:
                self._answer(404, {"error": "GET /simulator/status"})

        def do_POST(self) -> None:
            action = self.path.rstrip("/").removeprefix("/simulator/")
            try:
                if action == "stop":
                    simulator.stop()
                elif action == "start":
                    simulator.start()
                elif action == "restart":
                    simulator.stop()
                    simulator.start()
                else:
                    self._answer(404, {"error": "POST /simulator/stop, start or restart"})
                    return
            except RuntimeError as err:
                self._answer(500, {"error": str(err)})
                return
            self._answer(200, simulator.status())

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass  # the simulator's own messages say what happened

    server = ThreadingHTTPServer((HOST, args.control_port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def watch_terminal(simulator: SimulatorControl) -> None:
    """`s` and Enter stop or start the simulator; only when a person is at the terminal."""
    if not sys.stdin.isatty():
        return

    def read() -> None:
        for line in sys.stdin:
            if line.strip().lower() == "s":
                with contextlib.suppress(RuntimeError):
                    simulator.toggle()

    threading.Thread(target=read, daemon=True).start()


class _LineReader:
    """Lines of a child's output, read on a thread so waiting for one can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str | None] = []
        self._ready = threading.Condition()
        self._sink: Callable[[str], None] | None = None
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._ready:
                if self._sink is not None:
                    self._sink(line)
                else:
                    self._lines.append(line)
                self._ready.notify_all()
        with self._ready:
            self._lines.append(None)
            self._ready.notify_all()

    def next_line(self, timeout: float) -> str | None:
        with self._ready:
            if not self._ready.wait_for(lambda: self._lines, timeout=max(timeout, 0)):
                return None
            return self._lines.pop(0)

    def forward(self, sink: Callable[[str], None]) -> None:
        """From now on, hand every line to `sink` (what was not read yet first)."""
        with self._ready:
            for line in self._lines:
                if line is not None:
                    sink(line)
            self._lines.clear()
            self._sink = sink


def wait_for_home_assistant(
    url: str, process: subprocess.Popen[str], stopping: threading.Event
) -> bool:
    """Whether Home Assistant serves its frontend before the time limit, an exit or Ctrl-C."""
    deadline = time.monotonic() + HA_START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None and not stopping.is_set():
        try:
            with urllib.request.urlopen(f"{url}/manifest.json", timeout=5) as response:
                if response.status == 200:
                    return True
        except urllib.error.URLError, OSError:
            pass
        stopping.wait(1)
    return False


def api(
    url: str, *, token: str | None = None, body: Any = None, form: dict[str, str] | None = None
) -> Any:
    """GET `url`, or POST `body` as JSON or `form` as a form; the answer's JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()  # what /auth/token reads
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=API_TIMEOUT) as response:
        return json.load(response)


def onboarding_pending(url: str) -> bool:
    """Whether Home Assistant still waits for its owner account, the first onboarding step."""
    try:
        steps = api(f"{url}/api/onboarding")
    except urllib.error.HTTPError as err:
        if err.code == 404:  # onboarded: Home Assistant no longer serves the onboarding API
            return False
        raise
    return not any(step["step"] == "user" and step["done"] for step in steps)


def onboard(url: str) -> str:
    """Go through onboarding as the frontend does, as DEV_USER; return an access token."""
    client_id = f"{url}/"  # the frontend's own client id: the page's origin
    code = api(
        f"{url}/api/onboarding/users",
        body={**DEV_USER, "client_id": client_id, "language": "en"},
    )["auth_code"]
    token = api(
        f"{url}/auth/token",
        form={"grant_type": "authorization_code", "code": code, "client_id": client_id},
    )["access_token"]
    # The remaining steps, with Home Assistant's defaults (home location, no analytics); once
    # all are done, the UI opens on the dashboard.
    api(f"{url}/api/onboarding/core_config", token=token, body={})
    api(f"{url}/api/onboarding/analytics", token=token, body={})
    api(
        f"{url}/api/onboarding/integration",
        token=token,
        body={"client_id": client_id, "redirect_uri": f"{url}/?auth_callback=1"},
    )
    return token


def add_entry(url: str, token: str, info: dict[str, str]) -> None:
    """Add Basix PBX for the simulator, the whole PBX, through the config flow's REST API."""
    if api(f"{url}/api/config/config_entries/entry?domain=basix_cti", token=token):
        return
    flows = f"{url}/api/config/config_entries/flow"
    flow = api(flows, token=token, body={"handler": "basix_cti", "show_advanced_options": False})
    answers = {
        "user": {
            "server": info["server"],
            "domain": info["domain"],
            "api_token": info["token"],
            "app_name": "home_assistant",
            "verify_ssl": True,
        },
        "scope": {"scope": "pbx"},
    }
    for step, answer in answers.items():
        # The next form, or the same one again with errors (say, the PBX did not answer).
        if flow.get("step_id") != step or flow.get("errors"):
            raise RuntimeError(f"the config flow answered {flow}")
        flow = api(f"{flows}/{flow['flow_id']}", token=token, body=answer)
    if flow.get("type") != "create_entry":
        raise RuntimeError(f"the config flow answered {flow}")


def set_up(url: str, info: dict[str, str], config_dir: Path) -> tuple[bool, bool]:
    """Onboard and add Basix PBX if Home Assistant was never onboarded.

    Returns whether to log in as DEV_USER and whether Basix PBX was added now. A failure is
    only reported: everything can still be done by hand in the UI.
    """
    dev_login, added = has_dev_user(config_dir), False
    try:
        if onboarding_pending(url):
            print("scripts/develop: onboarding Home Assistant and adding Basix PBX", flush=True)
            token = onboard(url)
            dev_login = True
            add_entry(url, token, info)
            added = True
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # URLError is an OSError
        print(f"scripts/develop: could not finish setting up ({err}); carry on in the UI")
    return dev_login, added


def has_dev_user(config_dir: Path) -> bool:
    """Whether DEV_USER exists: this folder was onboarded by scripts/develop earlier."""
    users = config_dir / ".storage" / "auth_provider.homeassistant"
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(users.read_text(encoding="utf-8"))
        return any(user["username"] == DEV_USER["username"] for user in data["data"]["users"])
    return False


def has_entry(config_dir: Path) -> bool:
    entries = config_dir / ".storage" / "core.config_entries"
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(entries.read_text(encoding="utf-8"))
        return any(entry.get("domain") == "basix_cti" for entry in data["data"]["entries"])
    return False


def banner(
    url: str, info: dict[str, str], config_dir: Path, *, dev_login: bool, added: bool
) -> str:
    login = (
        f"Log in as {DEV_USER['username']} / {DEV_USER['password']} (a dev-only account).\n"
        if dev_login
        else ""
    )
    if added:
        todo = "Basix PBX (the simulator) is already added: extensions ring on the dashboard."
    elif has_entry(config_dir):
        todo = "Basix PBX is set up in this configuration: open Settings > Devices & services."
    else:
        first = "Then" if dev_login else "First time? Create a user, then"
        todo = (
            f"{first} Settings > Devices & services > Add integration >\n"
            '"Basix PBX", and enter:\n'
            f"    Server:     {info['server']}\n"
            f"    Domain:     {info['domain']}\n"
            f"    API token:  {info['token']}\n"
            "    (the rest as it is), then Follow: The whole PBX."
        )
    return (
        f"\n{'=' * 78}\n"
        f"Ready. Home Assistant: {url}   (configuration: {config_dir})\n"
        f"{login}{todo}\n"
        f"Make an extension ring:  curl -X POST '{info['control']}/ring?to=201'\n"
        f"(also answer, hangup, voicemail, mwi?to=201&new=2; see basix_simulator/server.py)\n"
        f"An outage: type s and Enter (again to end it), or\n"
        f"    curl -X POST '{info['dev_control']}/stop'   (and .../start)\n"
        f"Ctrl-C stops both.\n"
        f"{'=' * 78}\n"
    )


def stop(process: subprocess.Popen[str], name: str) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"scripts/develop: {name} did not stop in {STOP_TIMEOUT:.0f} s; killing it")
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config_dir = args.config_dir.resolve()
    check_port_free(args.port, "Home Assistant")
    check_port_free(args.sim_port, "simulator")
    prepare_config(config_dir, args.port)

    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    check_port_free(args.control_port, "scripts/develop's simulator control")
    try:
        simulator = SimulatorControl(args)
    except RuntimeError as err:
        sys.exit(f"scripts/develop: {err}")
    info = {**simulator.info, "dev_control": control_url(args)}
    (config_dir / SIMULATOR_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    control = serve_control(args, simulator)
    watch_terminal(simulator)
    url = f"http://{HOST}:{args.port}"
    hass_command = [str(VENV_BIN / "hass"), "--config", str(config_dir)]
    print(f"scripts/develop: starting Home Assistant on {url} (the first start takes a while)")
    hass = start(hass_command)
    try:
        if wait_for_home_assistant(url, hass, stopping):
            dev_login, added = (False, False) if args.fresh else set_up(url, info, config_dir)
            print(banner(url, info, config_dir, dev_login=dev_login, added=added), flush=True)
        elif not stopping.is_set() and hass.poll() is None:
            print(f"scripts/develop: Home Assistant did not answer within {HA_START_TIMEOUT:.0f} s")
            return 1
        while not stopping.is_set():
            if hass.poll() == RESTART_EXIT_CODE:
                # What a supervisor does when "Restart" is chosen in the UI: start it again.
                print("scripts/develop: Home Assistant asked for a restart")
                hass = start(hass_command)
            elif hass.poll() is not None:
                print("scripts/develop: Home Assistant stopped; stopping the simulator")
                return 1
            # The simulator may stop (asked to, or not): Home Assistant rides out the outage.
            simulator.run_requests()
            simulator.check()
            stopping.wait(0.2)
        print("scripts/develop: stopping")
        return 0
    finally:
        control.shutdown()
        stop(hass, "Home Assistant")
        simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
