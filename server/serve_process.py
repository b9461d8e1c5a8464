"""``fieldsync serve`` as a child process on a free loopback port.

The benchmarks measure it and the end-to-end tests kill it: both run the
server as it is deployed (its own process, its own engines, the real HTTP
stack), not an app object inside the caller.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fieldsync_command() -> list[str]:
    """The ``fieldsync`` script of this interpreter's environment (or wherever it is installed)."""
    script = Path(sys.executable).with_name("fieldsync")
    if script.exists():
        return [str(script)]
    found = shutil.which("fieldsync")
    return [found] if found else [sys.executable, "-c", "from server.cli import main; main()"]


class ServeProcess:
    """A server on ``127.0.0.1``: ``start()`` returns once ``/healthz`` answers; ``kill()``
    is a SIGKILL, ``stop()`` a graceful stop. Its output goes to ``log`` in the data directory.
    ``workers`` sets ``FIELDSYNC_WORKERS`` (else the caller's environment decides)."""

    def __init__(self, database_url: str, data_dir: Path | str, *, port: int | None = None,
                 workers: int | None = None, start_timeout_s: float = 60) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FIELDSYNC_DATABASE_URL": database_url, "FIELDSYNC_DATA_DIR": str(data_dir)}
        if workers is not None:
            self.env["FIELDSYNC_WORKERS"] = str(workers)
        self.log = Path(data_dir) / f"server-{self.port}.log"
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> "ServeProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*fieldsync_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped at start:\n{self._log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the server did not answer within {self.start_timeout_s} s:\n{self._log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a power cut or the OOM killer would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


__all__ = ["ServeProcess", "fieldsync_command", "free_port"]
