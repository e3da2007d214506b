#!/usr/bin/env python3
"""The demo app: answers HTTP on APP_PORT and registers its address in etcd.

The app runs blue-green: its colour is the end of its host name (app-blue, app-green).
Each colour registers its own address under SERVICE_PREFIX/colours/COLOUR. The live keys
(SERVICE_PREFIX/colour and SERVICE_PREFIX/upstream), which the proxy routes by, are
claimed by the INITIAL_COLOUR only while they do not exist yet (an etcd transaction on
create_revision == 0); after that only `envctl promote` and `envctl rollback` write them,
so a new colour never takes traffic before it has been verified.

etcd is reached through its v3 JSON gateway, so the app needs nothing beyond the Python
standard library.

For rehearsing capacity gates and drains: DELAY_MS (or a number in /tmp/app-delay-ms,
read on every request) slows every answer down, and /slow?seconds=N answers only after
N seconds, as a long request in flight during a switch would.
"""
import base64
import http.server
import json
import os
import signal
import socket
import threading
import time
import urllib.parse
import urllib.request

PORT = int(os.environ.get("APP_PORT", "8000"))
ETCD = os.environ.get("ETCD_URL", "http://etcd:2379")
PREFIX = os.environ.get("SERVICE_PREFIX", "/services/app")
INITIAL = os.environ.get("INITIAL_COLOUR", "blue")
GREETING = os.environ.get("GREETING", "hello")
DELAY_MS = os.environ.get("DELAY_MS", "0")
DELAY_FILE = "/tmp/app-delay-ms"
HOST = socket.gethostname()
COLOUR = os.environ.get("APP_COLOUR", HOST.rsplit("-", 1)[-1])
ADDRESS = os.environ.get("APP_ADDRESS", f"{HOST}:{PORT}")


def b64(text):
    return base64.b64encode(text.encode()).decode()


def etcd(path, body):
    req = urllib.request.Request(
        f"{ETCD}{path}", data=json.dumps(body).encode(), method="POST"
    )
    return json.loads(urllib.request.urlopen(req, timeout=2).read() or b"{}")


def put(key, value):
    return {"request_put": {"key": b64(key), "value": b64(value)}}


def register():
    for _ in range(600):
        try:
            etcd("/v3/kv/put", {"key": b64(f"{PREFIX}/colours/{COLOUR}"), "value": b64(ADDRESS)})
            print(f"registered {PREFIX}/colours/{COLOUR} = {ADDRESS}", flush=True)
            if COLOUR == INITIAL:
                claim = etcd("/v3/kv/txn", {
                    "compare": [{
                        "key": b64(f"{PREFIX}/upstream"),
                        "target": "CREATE",
                        "result": "EQUAL",
                        "create_revision": "0",
                    }],
                    "success": [put(f"{PREFIX}/colour", COLOUR), put(f"{PREFIX}/upstream", ADDRESS)],
                })
                if claim.get("succeeded"):
                    print(f"claimed {PREFIX}/upstream = {ADDRESS}", flush=True)
            return
        except OSError as err:
            print(f"etcd not ready ({err}); retrying", flush=True)
            time.sleep(0.5)


def delay():
    """Seconds every answer waits: the delay file's value, else DELAY_MS."""
    try:
        with open(DELAY_FILE) as f:
            text = f.read().strip()
    except OSError:
        text = DELAY_MS
    try:
        return max(0.0, float(text or "0") / 1000.0)
    except ValueError:
        return 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self.reply(200, "ok\n")
            return
        time.sleep(delay())
        if url.path == "/slow":
            seconds = float(urllib.parse.parse_qs(url.query).get("seconds", ["5"])[0])
            time.sleep(min(seconds, 120))
            self.reply(200, f"{GREETING} ({ADDRESS}) after {seconds:g}s: complete\n")
        else:
            self.reply(200, f"{GREETING} ({ADDRESS})\n")

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    # As PID 1 the app must handle SIGTERM itself, or stopping it waits for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=register, daemon=True).start()
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
