"""A stand-in for the Telegram Bot API on loopback: a real HTTP server that answers
`POST /bot<token>/<method>` for sendMessage, answerCallbackQuery and getUpdates (long polling
with offsets, as Telegram does: asking from an offset forgets every update before it), and a
fake webhook receiver for Slack-, Discord- and JSON-bodied webhooks.

The test plays the user: `user_sends` and `user_presses` queue updates as a Telegram client
would, and `transcript()` gives the conversation, both sides, in order. `hold(chat)` stalls
sendMessage to a chat until `release()`: a message whose client hung up meanwhile (a worker
killed mid-send) is dropped, as Telegram never got to take it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TOKEN = "4242424242:AAFakeTelegramBotTokenForKriptoTests0"


@dataclass
class Sent:
    chat_id: int
    text: str
    message_id: int
    buttons: list[tuple[str, str]] = field(default_factory=list)


def _peer_gone(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.Condition()
        self.updates: list[dict[str, Any]] = []
        self.next_update = 1
        self.next_message = 100
        self.sent: list[Sent] = []
        self.answers: list[tuple[str, str]] = []
        self.held: set[int] = set()
        self.waiting: list[int] = []  # chats with a sendMessage held right now
        self.dropped: list[int] = []
        self.log: list[str] = []
        self.unauthorized = 0
        #: What getWebhookInfo says (`kripto live check`): the webhook set on the bot ("" for
        #: none: the bot polls with getUpdates).
        self.webhook_url = ""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                token, _, method = self.path.removeprefix("/bot").partition("/")
                if token != fake.token:
                    fake.unauthorized += 1
                    return self._reply(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                handler = getattr(fake, f"_{method}", None)
                if handler is None:
                    return self._reply(
                        404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    )
                result = handler(body, self.connection)
                if result is _DROP:
                    self.close_connection = True
                    return None
                return self._reply(200, {"ok": True, "result": result})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    # -- the Bot API ------------------------------------------------------------------------

    def _sendMessage(self, body: dict[str, Any], conn: socket.socket) -> Any:
        chat = int(body["chat_id"])
        with self.lock:
            if chat in self.held:
                self.waiting.append(chat)
                self.lock.notify_all()
                self.lock.wait_for(lambda: chat not in self.held, timeout=120)
                self.waiting.remove(chat)
                if _peer_gone(conn):
                    self.dropped.append(chat)
                    return _DROP
            markup = (body.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = [(b["text"], b["callback_data"]) for row in markup for b in row]
            self.next_message += 1
            sent = Sent(chat, body["text"], self.next_message, buttons)
            self.sent.append(sent)
            shown = sent.text + "".join(f"\n  [{t}]" for t, _ in buttons)
            self.log.append(f"bot → {chat}: {shown}")
            self.lock.notify_all()
            return {"message_id": sent.message_id, "chat": {"id": chat}, "text": sent.text}

    def _getMe(self, body: dict[str, Any], conn: socket.socket) -> Any:
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "username": "KriptoTestBot"}

    def _answerCallbackQuery(self, body: dict[str, Any], conn: socket.socket) -> Any:
        with self.lock:
            self.answers.append((body["callback_query_id"], body.get("text", "")))
            self.log.append(f"bot (button answer): {body.get('text', '')}")
        return True

    def _getUpdates(self, body: dict[str, Any], conn: socket.socket) -> Any:
        offset = int(body.get("offset") or 0)
        deadline = time.monotonic() + float(body.get("timeout") or 0)
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.updates)

    def _getWebhookInfo(self, body: dict[str, Any], conn: socket.socket) -> Any:
        return {"url": self.webhook_url, "pending_update_count": 0}

    # -- the user's side -----------------------------------------------------------------------

    def user_sends(self, chat: int, text: str, username: str = "alice", user: int = 0) -> int:
        with self.lock:
            update_id = self.next_update
            self.next_update += 1
            sender = {
                "id": user or chat,
                "is_bot": False,
                "first_name": username,
                "username": username,
            }
            self.updates.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": 1000 + update_id,
                        "from": sender,
                        "chat": {"id": chat, "type": "private"},
                        "date": int(time.time()),
                        "text": text,
                    },
                }
            )
            self.log.append(f"@{username} ({chat}): {text}")
            self.lock.notify_all()
            return update_id

    def user_presses(
        self, chat: int, data: str, label: str, username: str = "alice", user: int = 0
    ) -> int:
        with self.lock:
            update_id = self.next_update
            self.next_update += 1
            self.updates.append(
                {
                    "update_id": update_id,
                    "callback_query": {
                        "id": f"cb{update_id}",
                        "from": {
                            "id": user or chat,
                            "is_bot": False,
                            "first_name": username,
                            "username": username,
                        },
                        "message": {"message_id": 1, "chat": {"id": chat, "type": "private"}},
                        "data": data,
                    },
                }
            )
            self.log.append(f"@{username} ({chat}) presses [{label}]")
            self.lock.notify_all()
            return update_id

    # -- for the tests ---------------------------------------------------------------------------

    def messages(self, chat: int) -> list[Sent]:
        with self.lock:
            return [m for m in self.sent if m.chat_id == chat]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Until predicate(self) holds (checked whenever the fake changes), at most `timeout`."""
        with self.lock:
            if not self.lock.wait_for(lambda: predicate(self), timeout=timeout):
                raise AssertionError(f"timed out; the conversation so far:\n{self.transcript()}")

    def hold(self, chat: int) -> None:
        with self.lock:
            self.held.add(chat)

    def release(self) -> None:
        with self.lock:
            self.held.clear()
            self.lock.notify_all()

    def transcript(self) -> str:
        return "\n".join(self.log)


_DROP = object()


@dataclass
class FakeWebhooks:
    """Receives webhooks: each POST's path and JSON body, in order. A path under
    `/status/<code>/` answers with that code."""

    url: str
    received: list[tuple[str, Any]]
    server: ThreadingHTTPServer

    def bodies(self, path: str) -> list[Any]:
        return [body for p, body in self.received if p == path]


def start_webhooks() -> FakeWebhooks:
    received: list[tuple[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            status = 200
            if self.path.startswith("/status/"):
                status = int(self.path.split("/")[2])
            received.append((self.path, body))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return FakeWebhooks(f"http://127.0.0.1:{server.server_address[1]}", received, server)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.close()


@pytest.fixture
def fake_webhooks() -> Iterator[FakeWebhooks]:
    hooks = start_webhooks()
    yield hooks
    hooks.server.shutdown()
    hooks.server.server_close()
