#!/usr/bin/env python3
"""The demo app: answers HTTP on APP_PORT and registers its address in etcd.

Registration uses etcd's v3 JSON gateway (POST /v3/kv/put), so the app needs nothing
beyond the Python standard library.
"""
import base64
import http.server
import json
import os
import socket
import threading
import time
import urllib.request

PORT = int(os.environ.get("APP_PORT", "8000"))
ETCD = os.environ.get("ETCD_URL", "http://etcd:2379")
KEY = os.environ.get("UPSTREAM_KEY", "/services/app/upstream")
GREETING = os.environ.get("GREETING", "hello")
ADDRESS = os.environ.get("APP_ADDRESS", f"{socket.gethostname()}:{PORT}")


def b64(text):
    return base64.b64encode(text.encode()).decode()


def register():
    body = json.dumps({"key": b64(KEY), "value": b64(ADDRESS)}).encode()
    for _ in range(600):
        try:
            req = urllib.request.Request(f"{ETCD}/v3/kv/put", data=body, method="POST")
            urllib.request.urlopen(req, timeout=2).read()
            print(f"registered {KEY} = {ADDRESS}", flush=True)
            return
        except OSError as err:
            print(f"etcd not ready ({err}); retrying", flush=True)
            time.sleep(0.5)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, "ok\n")
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
    threading.Thread(target=register, daemon=True).start()
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
