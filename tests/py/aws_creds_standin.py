#!/usr/bin/env python3
"""Stand-ins for the two HTTP links of the AWS credential chain, on loopback:
  ECS/EKS container endpoint: GET /creds (the Authorization header must equal --token when given)
  EC2 IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds required) -> a session token;
      GET /latest/meta-data/iam/security-credentials/ -> the role; GET .../ROLE -> credentials.
      Credential GETs without the session token are refused (401), as IMDSv2 does.
Each credential answer has a new AccessKeyId (KEY<n>, or --key-id/--secret when given) and expires
--expires-in seconds from now. --count-file gets the number of credential answers after each one.
    aws_creds_standin.py --port-file F [--token T] [--expires-in S] [--key-id K --secret S] [--count-file C]
"""
import argparse, datetime, http.server, json, os, socketserver, threading

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--token", default="")
ap.add_argument("--expires-in", type=float, default=3600)
ap.add_argument("--key-id", default="")
ap.add_argument("--secret", default="")
ap.add_argument("--count-file", default="")
a = ap.parse_args()
lock = threading.Lock()
state = {"n": 0, "tokens": set()}


def creds():
    with lock:
        state["n"] += 1
        n = state["n"]
        if a.count_file:
            with open(a.count_file + ".tmp", "w") as f:
                f.write(str(n))
            os.replace(a.count_file + ".tmp", a.count_file)
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=a.expires_in)
    return {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": a.key_id or "ASIASTANDIN%05d" % n,
            "SecretAccessKey": a.secret or "secret-%d" % n, "Token": "session-token-%d" % n,
            "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        b = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_PUT(self):
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.send(400, "bad token request", "text/plain")
        t = "imds-session-%d" % len(state["tokens"])
        state["tokens"].add(t)
        self.send(200, t, "text/plain")

    def do_GET(self):
        if self.path == "/creds":
            if a.token and self.headers.get("Authorization") != a.token:
                return self.send(403, json.dumps({"message": "bad authorization token"}))
            return self.send(200, json.dumps(creds()))
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") not in state["tokens"]:
                return self.send(401, "", "text/plain")
            role = self.path.rsplit("/", 1)[1]
            if not role:
                return self.send(200, "cai-standin-role", "text/plain")
            if role != "cai-standin-role":
                return self.send(404, "", "text/plain")
            return self.send(200, json.dumps(creds()))
        self.send(404, "", "text/plain")


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
with open(a.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(a.port_file + ".tmp", a.port_file)
_parent = os.getppid()


def guard():
    import time
    while os.getppid() == _parent:
        time.sleep(1)
    os._exit(0)


threading.Thread(target=guard, daemon=True).start()
srv.serve_forever()
