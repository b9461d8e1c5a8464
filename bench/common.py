"""What every benchmark here needs: the real server (``fieldsync serve``) as a child process.

The scripts run as ``python bench/<name>.py``, so this directory is on the
import path and they import it as ``common``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.settings import Settings

SERVER_START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fieldsync_command() -> list[str]:
    script = Path(sys.executable).with_name("fieldsync")
    if script.exists():
        return [str(script)]
    found = shutil.which("fieldsync")
    return [found] if found else [sys.executable, "-c", "from server.cli import main; main()"]


class LocalServer:
    """``fieldsync serve`` as a child process; stopped on the way out, whatever happened."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = _free_port()
        self.log_path = Path(settings.data_dir) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        env = {**os.environ, "FIELDSYNC_DATA_DIR": str(self.settings.data_dir),
               "FIELDSYNC_DATABASE_URL": self.settings.database_url}
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*_fieldsync_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        base_url = f"http://127.0.0.1:{self.port}"
        try:
            self._wait_until_healthy(base_url)
        except BaseException:
            self.__exit__()
            raise
        return base_url

    def _wait_until_healthy(self, base_url: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped at start:\n{self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the server did not answer within {SERVER_START_TIMEOUT_S} s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
