#!/usr/bin/env python3
"""An independent HTTP client for promotion tests: sends GET URL over and over, each
request on a new connection (as new clients arrive), and writes one JSON line per
answer to OUT: seconds since start, status (0 for a connection error), latency and
the body's first line. Stops on SIGTERM, after the request in flight.

    http_client.py URL OUT
"""
import http.client
import json
import signal
import sys
import time
import urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1)
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
start = time.monotonic()
while running:
    sent = time.monotonic()
    status, body, error = 0, "", ""
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    try:
        conn.request("GET", url.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        status = response.status
        body = response.read().decode("utf-8", "replace")
    except OSError as err:
        error = str(err) or type(err).__name__
    finally:
        conn.close()
    line = {
        "at": round(sent - start, 4),
        "status": status,
        "ms": round((time.monotonic() - sent) * 1000, 2),
        "body": body.strip().splitlines()[0] if body.strip() else "",
    }
    if error:
        line["error"] = error
    out.write(json.dumps(line) + "\n")
    time.sleep(0.01)
