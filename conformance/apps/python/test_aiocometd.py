"""Sign-in, rules, users, presence and webhooks with the Python aiocometd client
(aiocometd-ng) against a herald started from a TOML file (spec/apps.md).

    HERALD_BIN=target/release/herald python -m unittest conformance/apps/python/test_aiocometd.py
"""

import asyncio
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from aiocometd_ng import Client, ConnectionType
from aiocometd_ng.exceptions import ServerError
from aiocometd_ng.extensions import AuthExtension

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERALD_BIN = os.environ.get("HERALD_BIN", os.path.join(ROOT, "target", "release", "herald"))
SECRET = "hs256-secret-for-the-python-tests"
KEY = "api-key-for-the-python-tests"
WAIT = 10


def token(user, expires_in=3600):
    return jwt.encode({"sub": user, "exp": int(time.time()) + expires_in}, SECRET, algorithm="HS256")


class Webhook(BaseHTTPRequestHandler):
    """The application's backend: answers /service/whoami with the caller's user."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        answer = json.dumps({"data": {"you": body["user"], "asked": body["data"]}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class Token(AuthExtension):
    """Puts `ext.token` on handshakes; asked for a fresh one when a handshake gets a 401."""

    def __init__(self, current, fresh=None):
        self.current = current
        self.fresh = fresh
        self.refreshed = 0

    async def outgoing(self, payload, headers):
        for message in payload:
            if message["channel"] == "/meta/handshake" and self.current is not None:
                message.setdefault("ext", {})["token"] = self.current

    async def incoming(self, payload, headers=None):
        pass

    async def authenticate(self):
        if self.fresh is not None:
            self.current = self.fresh
            self.refreshed += 1


class HeraldFromToml(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
        threading.Thread(target=cls.backend.serve_forever, daemon=True).start()
        cls.dir = tempfile.TemporaryDirectory()
        config = os.path.join(cls.dir.name, "herald.toml")
        with open(config, "w") as f:
            f.write(f"""
bind = "127.0.0.1:0"
[sign_in]
anonymous = false
[sign_in.jwt]
algorithm = "HS256"
secret = "{SECRET}"
[[channels]]
pattern = "/users/{{user}}/**"
subscribe = "owner"
publish = "backend"
[[channels]]
pattern = "/rooms/**"
subscribe = "users"
presence = true
[api]
keys = ["{KEY}"]
[webhooks]
url = "http://127.0.0.1:{cls.backend.server_address[1]}/webhook"
services = ["/service/**"]
""")
        cls.log = open(os.path.join(cls.dir.name, "herald.log"), "w+")
        cls.herald = subprocess.Popen([HERALD_BIN, "--config", config, "--log", "debug"], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.time() + WAIT
        while time.time() < deadline:
            cls.log.seek(0)
            found = re.search(r"http://127\.0\.0\.1:(\d+)/cometd", cls.log.read())
            if found:
                cls.url = found.group(0)
                cls.base = cls.url[: -len("/cometd")]
                return
            time.sleep(0.05)
        raise RuntimeError("herald did not start")

    @classmethod
    def tearDownClass(cls):
        cls.herald.terminate()
        cls.herald.wait()
        cls.backend.shutdown()
        cls.log.close()
        cls.dir.cleanup()

    def api(self, method, path, body=None):
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())

    def client(self, user, transport=ConnectionType.WEBSOCKET, **auth):
        return Client(self.url, transport, auth=Token(token(user) if user else None, **auth))

    async def next_message(self, client):
        return await asyncio.wait_for(client.receive(), WAIT)

    async def test_missing_bad_and_expired_tokens_are_refused_with_the_right_error(self):
        for current, error in [(None, "401::token_missing"), ("x.y.z", "401::token_invalid"), (token("ada", -60), "401::token_expired")]:
            with self.assertRaises(ServerError) as refused:
                async with Client(self.url, auth=Token(current)):
                    pass
            self.assertEqual(refused.exception.response["error"], error)

    async def test_an_expired_token_is_refreshed_through_the_auth_extension(self):
        auth = Token(token("ada", -60), fresh=token("ada"))
        async with Client(self.url, ConnectionType.LONG_POLLING, auth=auth) as client:
            await client.subscribe("/users/ada/inbox")
        self.assertEqual(auth.refreshed, 1)

    async def test_personal_channels_and_messages_to_one_user(self):
        async with self.client("ada") as tab1, self.client("ada", ConnectionType.LONG_POLLING) as tab2, self.client("bob") as bob:
            for tab in (tab1, tab2):
                await tab.subscribe("/users/ada/inbox")
            with self.assertRaises(ServerError) as refused:
                await bob.subscribe("/users/ada/inbox")
            self.assertEqual(refused.exception.response["error"], "403:denied_by_security_policy:subscribe_denied")
            await bob.subscribe("/users/bob/inbox")
            answer = self.api("POST", "/api/publish", {"user": "ada", "channel": "/users/ada/inbox", "data": {"n": 1}})
            self.assertEqual(answer, {"reached": 2})
            for tab in (tab1, tab2):
                message = await self.next_message(tab)
                self.assertEqual((message["channel"], message["data"]), ("/users/ada/inbox", {"n": 1}))
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(bob.receive(), 0.5)

    async def test_presence_lists_each_user_once(self):
        async with self.client("ada") as a1, self.client("ada") as a2, self.client("bob") as bob:
            for client in (a1, a2, bob):
                await client.subscribe("/rooms/lobby")
            present = self.api("GET", "/api/presence?channel=/rooms/lobby")
            self.assertEqual(present["users"], ["ada", "bob"])

    async def test_a_webhook_answer_reaches_the_sender(self):
        async with self.client("ada") as ada:
            reply = await ada.publish("/service/whoami", {"q": 1})
            self.assertEqual(reply["data"], {"you": "ada", "asked": {"q": 1}})

    def test_zz_no_token_or_secret_in_the_log(self):
        self.log.seek(0)
        log = self.log.read()
        self.assertNotIn(SECRET, log)
        self.assertNotIn(KEY, log)
        self.assertNotIn(token("ada")[:40], log)


if __name__ == "__main__":
    unittest.main()
