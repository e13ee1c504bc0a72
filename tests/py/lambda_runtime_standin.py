#!/usr/bin/env python3
"""A stand-in for the AWS Lambda Runtime API (2018-06-01), for tests: serves queued events, records what
the runtime answers, then exits.

    lambda_runtime_standin.py --events EVENTS.json --record OUT.json --port-file PORT [--timeout S]

EVENTS.json is a list of {"id": REQUEST_ID, "event": <JSON value> | "raw": "<bytes as text>",
"deadline_in_ms": N (default 900000, Lambda's 15 min) | "deadline_ms": absolute Unix ms}. The server listens on 127.0.0.1 on a
free port (written to PORT), hands the events out in order on GET .../invocation/next (with
Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Trace-Id headers), and records
POST .../invocation/<id>/response, .../invocation/<id>/error and .../init/error. It exits when every event
has been answered, when an init error arrives, or after --timeout seconds, and writes OUT.json:
{"started", "next_times": [...], "responses": {id: body}, "errors": {id: {"type", "body"}},
"init_error": {"type", "body"} | null, "protocol_errors": [...], "unanswered": [...]}.
Bodies that are not JSON are recorded as {"_raw": text}; the tests treat that as a failure.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
MAX_BODY = 7 * 1024 * 1024


class State:
    def __init__(self, events):
        self.lock = threading.Condition()
        self.queue = list(events)
        self.outstanding = {}
        self.rec = {"started": time.time(), "next_times": [], "responses": {}, "errors": {},
                    "init_error": None, "protocol_errors": [], "unanswered": []}
        self.done = threading.Event()

    def check_done(self):
        if self.rec["init_error"] is not None or (not self.queue and not self.outstanding):
            self.done.set()
            self.lock.notify_all()


def parse_body(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"_raw": raw.decode("utf-8", "replace")}


def make_handler(st):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one event = a few small writes; no 40 ms delayed-ACK stalls

        def log_message(self, fmt, *args):  # quiet: the test reads the record, not the log
            pass

        def reply(self, code, body=b"", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the runtime hung up (e.g. refused an oversized event)

        def do_GET(self):
            if self.path != PREFIX + "/invocation/next":
                with st.lock:
                    st.rec["protocol_errors"].append("GET " + self.path)
                return self.reply(404, b'{"errorMessage":"unknown path"}')
            with st.lock:
                st.rec["next_times"].append(time.time())
                while not st.queue and not st.done.is_set():
                    st.lock.wait(0.2)
                if not st.queue:
                    # Nothing more to hand out: real Lambda would freeze us here; we just close.
                    self.close_connection = True
                    return self.reply(410, b'{"errorMessage":"no more events"}')
                ev = st.queue.pop(0)
                st.outstanding[ev["id"]] = ev
            if "raw" in ev:
                body = ev["raw"].encode()
            else:
                body = json.dumps(ev["event"]).encode()
            deadline = ev.get("deadline_ms") or int(time.time() * 1000) + int(ev.get("deadline_in_ms", 900000))
            self.reply(200, body, {
                "Lambda-Runtime-Aws-Request-Id": ev["id"],
                "Lambda-Runtime-Deadline-Ms": str(deadline),
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:standin",
            })

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.close_connection = True
                return self.reply(413, b'{"errorMessage":"too large"}')
            raw = self.rfile.read(n)
            etype = self.headers.get("Lambda-Runtime-Function-Error-Type")
            path = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else None
            with st.lock:
                if path == "/init/error":
                    st.rec["init_error"] = {"type": etype, "body": parse_body(raw)}
                    st.check_done()
                    return self.reply(202, b'{"status":"OK"}')
                parts = (path or "").strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    rid = parts[1]
                    if rid not in st.outstanding:
                        st.rec["protocol_errors"].append("%s for unknown or answered id %s" % (parts[2], rid))
                        return self.reply(400, b'{"errorMessage":"unknown request id"}')
                    del st.outstanding[rid]
                    if parts[2] == "response":
                        st.rec["responses"][rid] = parse_body(raw)
                    else:
                        st.rec["errors"][rid] = {"type": etype, "body": parse_body(raw)}
                    st.check_done()
                    return self.reply(202, b'{"status":"OK"}')
                st.rec["protocol_errors"].append("POST " + self.path)
                return self.reply(404, b'{"errorMessage":"unknown path"}')

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    with open(a.events) as f:
        st = State(json.load(f))
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a runtime that hangs up mid-request (it refused an oversized event) is not our error

    srv = Server(("127.0.0.1", 0), make_handler(st))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    st.done.wait(a.timeout)
    time.sleep(0.3)  # let a last blocked `next` see the end
    with st.lock:
        st.rec["unanswered"] = [e["id"] for e in st.queue] + list(st.outstanding)
        rec = json.dumps(st.rec, indent=1)
    with open(a.record + ".tmp", "w") as f:
        f.write(rec)
    os.rename(a.record + ".tmp", a.record)
    srv.shutdown()


if __name__ == "__main__":
    main()
