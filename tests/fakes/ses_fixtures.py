"""SES on loopback for the SES mailer's tests.

- `ses_server`: moto's SES as a real HTTP server (`moto_server`), for sending and reading back.
- `ses_faults`: a small SES v2 look-alike that answers `SendEmail` with the faults a real SES
  gives (429 with Retry-After, 500, 503, a slow reply, an error that echoes the request's
  Authorization header). The recipient's address picks the fault, for example
  `status-503-ServiceUnavailable@faults.example`; any other address is accepted.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import httpx
import pytest

from kripto.devstack.binaries import find_binary

FAULTS_DOMAIN = "faults.example"
#: The sender that `ses_verified` has verified in moto's SES.
SES_SENDER = "kripto@example.com"
_STATUS = re.compile(r"^status-(\d{3})-([A-Za-z]+)@")


@pytest.fixture(scope="session")
def ses_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [find_binary("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/data.json", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def ses_verified(ses_server: str) -> str:
    """moto's SES with SES_SENDER verified, as SES requires of a sender; its URL."""
    boto3.client(
        "sesv2",
        region_name="eu-west-2",
        endpoint_url=ses_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_email_identity(EmailIdentity=SES_SENDER)
    return ses_server


@dataclass
class SesFaults:
    url: str
    #: The recipient of every SendEmail request received, in order.
    recipients: list[str] = field(default_factory=list)
    slow_seconds: float = 1.5


class _FaultHandler(BaseHTTPRequestHandler):
    server: _FaultServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: dict[str, object], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        faults = self.server.faults
        if self.path != "/v2/email/outbound-emails":
            self._reply(404, {"message": f"no route {self.path}"}, {})
            return
        to = str(request.get("Destination", {}).get("ToAddresses", [""])[0])
        faults.recipients.append(to)
        if match := _STATUS.match(to):
            status, code = int(match.group(1)), match.group(2)
            headers = {"x-amzn-ErrorType": code}
            if status == 429:
                headers["Retry-After"] = "7"
            self._reply(status, {"message": f"fault {status} {code}"}, headers)
        elif to.startswith("echo@"):
            echoed = self.headers.get("Authorization", "")
            self._reply(
                400,
                {"message": f"cannot verify the request {echoed}"},
                {"x-amzn-ErrorType": "BadRequestException"},
            )
        elif to.startswith("slow@"):
            time.sleep(faults.slow_seconds)
            self._reply(200, {"MessageId": "slow-accepted"}, {})
        else:
            self._reply(200, {"MessageId": f"fault-ok-{len(faults.recipients)}"}, {})


class _FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, faults: SesFaults) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.faults = faults

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a slow reply is expected, not news


@pytest.fixture(scope="session")
def ses_faults() -> Iterator[SesFaults]:
    faults = SesFaults(url="")
    server = _FaultServer(faults)
    faults.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield faults
    finally:
        server.shutdown()
        server.server_close()
