#!/usr/bin/env python3
"""fault_proxy.py — a loopback HTTP proxy in front of an S3 endpoint (moto) that injects faults on demand.

Requests are forwarded verbatim (Host header included, so SigV4 signatures made for the proxy's address
still verify upstream). Faults are armed through a control path the proxy answers itself:

  POST /__fault__  {"mode": "503" | "500" | "429" | "reset" | "none", "count": N, "match": "substring"}
        the next N requests whose path contains `match` ("" = any) get the fault:
          503 → 503 SlowDown (S3's throttling answer), 500 → 500 InternalError, 429 → 429 TooManyRequests,
          reset → the TCP connection is reset (SO_LINGER 0) without a response (the request never reached S3),
          reset_after → the request is forwarded (S3 acts on it) and then the connection is reset: the answer
                        is lost, as when a connection drops after S3 committed a PUT or DELETE.
        optional: "rate": P (0 < P <= 1, default 1) — each matching request is faulted with probability P
        (a soak: faults at random among normal traffic, until N are spent); "modes": ["503", "reset", ...] —
        each fault picks one of these at random instead of "mode"; "seed": S — the random sequence.
  GET  /__fault__  → {"requests": total forwarded or faulted, "injected": faults so far, "armed": left,
                      "last_headers": headers of the last non-control request}

usage: fault_proxy.py --upstream http://127.0.0.1:PORT --port-file FILE   (binds 127.0.0.1 on a free port)
"""
import argparse
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}
ERR = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "429": (429, "TooManyRequests", "Too many requests."),
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.mode, self.count, self.match = "none", 0, ""
        self.rate, self.modes = 1.0, []
        self.rng = random.Random(0)
        self.requests = self.injected = 0
        self.last_headers = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault_proxy"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("proxy: " + (fmt % args) + "\n")

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self, body):
        st = self.server.state
        if self.command == "POST":
            cfg = json.loads(body or b"{}")
            with st.lock:
                st.mode = str(cfg.get("mode", "none"))
                st.count = int(cfg.get("count", 0))
                st.match = str(cfg.get("match", ""))
                st.rate = float(cfg.get("rate", 1.0))
                st.modes = [str(m) for m in cfg.get("modes", [])]
                st.rng = random.Random(cfg.get("seed", 0))
            out = {"ok": True}
        else:
            with st.lock:
                out = {"requests": st.requests, "injected": st.injected, "armed": st.count,
                       "mode": st.mode, "last_headers": st.last_headers}
        self._send(200, json.dumps(out).encode(), [("Content-Type", "application/json")])

    def _handle(self):
        body = self._body()
        if self.path.startswith("/__fault__"):
            return self._control(body)
        st = self.server.state
        fault = None
        with st.lock:
            st.requests += 1
            st.last_headers = {k.lower(): v for k, v in self.headers.items()}
            if (st.count > 0 and (st.mode != "none" or st.modes) and st.match in urllib.parse.unquote(self.path)
                    and (st.rate >= 1.0 or st.rng.random() < st.rate)):
                st.count -= 1
                st.injected += 1
                fault = st.rng.choice(st.modes) if st.modes else st.mode
        if fault == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if fault in ERR:
            status, code, msg = ERR[fault]
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                   "<Resource>%s</Resource></Error>" % (code, msg, self.path)).encode()
            return self._send(status, xml, [("Content-Type", "application/xml")])
        up = urllib.parse.urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        try:
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn.request(self.command, self.path, body=body if body else None, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP and k.lower() != "content-length"]
            if fault == "reset_after":  # S3 did the work; its answer is lost on the way back
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif self.command == "HEAD":  # keep the object's length: HEAD answers carry it without a body
                self.send_response(resp.status)
                for k, v in out:
                    self.send_header(k, v)
                self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
                self.end_headers()
            else:
                self._send(resp.status, data, out)
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def exit_with_parent():
    """Exit when the test that started us dies (even by SIGKILL): no server outlives its test."""
    parent = os.getppid()

    def guard():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=guard, daemon=True).start()


def main():
    exit_with_parent()
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.upstream, srv.verbose, srv.state = a.upstream, a.verbose, State()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
