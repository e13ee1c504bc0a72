#!/usr/bin/env python3
"""sigv4_s3.py — a tiny in-memory S3 (path-style PUT/GET/HEAD/DELETE, ListObjectsV2) that verifies every
request's SigV4 signature STRICTLY, the way real S3 does, from the bytes on the wire.

Why: moto's verifier re-quotes the URL (werkzeug) before checking, so it rejects correctly signed keys with
`+ = & ( ) ! * '` or UTF-8 and list prefixes with %2F. This server canonicalizes per the SigV4 spec:
  - canonical URI = the raw path, which must already be UriEncoded once (anything else → 400
    NonCanonicalPath, so a client that sends a path S3 would canonicalize differently is caught);
  - canonical query = each raw name/value percent-decoded, re-encoded (unreserved A-Za-z0-9-_.~ kept),
    sorted;
  - the signed headers as listed in SignedHeaders; x-amz-content-sha256 must match the body.
At start it checks its own signer against botocore's S3SigV4Auth on tricky requests (exit 3 if they differ).

usage: sigv4_s3.py --key-id ID --secret SECRET --port-file FILE [--region us-east-1]
"""
import argparse
import hashlib
import hmac
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

UNRESERVED = "-_.~"


def uri_encode(s, keep_slash):
    return urllib.parse.quote(s, safe=UNRESERVED + ("/" if keep_slash else ""))


def canonical_query(raw):
    if not raw:
        return ""
    pairs = []
    for part in raw.split("&"):
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k), False), uri_encode(urllib.parse.unquote(v), False)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signature(secret, region, method, raw_path, raw_query, headers, signed, amzdate, payload_hash):
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').strip().split())}\n" for h in signed)
    creq = "\n".join([method, raw_path, canonical_query(raw_query), canon_headers, ";".join(signed), payload_hash])
    scope = f"{amzdate[:8]}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amzdate[:8], region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), creq


def self_test(region):
    """Our signer must agree with botocore's for keys and queries S3 clients actually send."""
    try:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    for key in ["a+b=c&d.txt", "\u00fc/\u65e5\u672c/(1)*!'.bin", "Anomaly Detection/x y.pt", "100%/x"]:
        for query in ["", "encoding-type=url&list-type=2&prefix=" + uri_encode(key, False)]:
            path = "/bkt/" + uri_encode(key, True)
            url = "http://127.0.0.1:1" + path + ("?" + query if query else "")
            req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
            req.context["timestamp"] = "20261125T120000Z"
            auth = S3SigV4Auth(creds, "s3", region)
            auth._modify_request_before_signing(req)
            bc = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
            hdrs = {k.lower(): v for k, v in req.headers.items()}
            hdrs["host"] = "127.0.0.1:1"  # botocore signs the URL's host
            signed = sorted(auth.headers_to_sign(req).keys())
            ours, _ = signature(creds.secret_key, region, "GET", path, query, hdrs, signed, "20261125T120000Z",
                                hdrs["x-amz-content-sha256"])
            if ours != bc:
                sys.stderr.write(f"sigv4_s3: self-test failed for {key!r} {query!r}\n")
                sys.exit(3)


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}  # (bucket, key) -> (body, meta_sha)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, msg, key=""):
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(msg)}</Message>'
               f"<Key>{escape(key)}</Key></Error>").encode()
        self.send(status, xml, [("Content-Type", "application/xml")])

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        raw_path, _, raw_query = self.path.partition("?")
        srv = self.server
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        auth = hdrs.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return self.error(403, "AccessDenied", "no SigV4 Authorization header")
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = fields["Credential"].split("/")
        if cred[0] != srv.key_id:
            return self.error(403, "InvalidAccessKeyId", "unknown access key")
        if uri_encode(urllib.parse.unquote(raw_path), True) != raw_path:
            return self.error(400, "NonCanonicalPath", f"path {raw_path!r} is not UriEncoded exactly once")
        ph = hdrs.get("x-amz-content-sha256")
        if ph is None:
            return self.error(400, "InvalidRequest", "missing x-amz-content-sha256")
        if ph != "UNSIGNED-PAYLOAD" and ph != hashlib.sha256(body).hexdigest():
            return self.error(400, "XAmzContentSHA256Mismatch", "payload hash does not match the body")
        signed = fields["SignedHeaders"].split(";")
        want, creq = signature(srv.secret, cred[2], self.command, raw_path, raw_query, hdrs, signed,
                               hdrs.get("x-amz-date", ""), ph)
        if not hmac.compare_digest(want, fields["Signature"]):
            return self.error(403, "SignatureDoesNotMatch", "strict SigV4 mismatch; canonical request: " + creq)
        parts = urllib.parse.unquote(raw_path).split("/", 2)
        bucket, key = parts[1], (parts[2] if len(parts) > 2 else "")
        q = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        st = srv.store
        if self.command == "GET" and not key and q.get("list-type") == "2":
            return self.list(bucket, q)
        with st.lock:
            obj = st.objects.get((bucket, key))
            if self.command == "PUT":
                st.objects[(bucket, key)] = (body, hdrs.get("x-amz-meta-sha256", ""))
                return self.send(200, b"", [("ETag", '"%s"' % hashlib.md5(body).hexdigest())])
            if self.command == "DELETE":
                st.objects.pop((bucket, key), None)
                return self.send(204)
        if obj is None:
            if self.command == "HEAD":
                return self.send(404)
            return self.error(404, "NoSuchKey", "The specified key does not exist.", key)
        data, meta = obj
        h = [("ETag", '"%s"' % hashlib.md5(data).hexdigest())]
        if meta:
            h.append(("x-amz-meta-sha256", meta))
        if self.command == "HEAD":
            return self.send(200, b"", h, length=len(data))
        rng = hdrs.get("range")
        if rng:
            a, _, b = rng[len("bytes="):].partition("-")
            a, b = int(a), min(int(b), len(data) - 1)
            if a >= len(data):
                return self.error(416, "InvalidRange", "The requested range is not satisfiable", key)
            return self.send(206, data[a:b + 1], h + [("Content-Range", f"bytes {a}-{b}/{len(data)}")])
        return self.send(200, data, h)

    def list(self, bucket, q):
        prefix, token, mk = q.get("prefix", ""), q.get("continuation-token"), int(q.get("max-keys", "1000"))
        with self.server.store.lock:
            keys = sorted((k, len(v[0])) for (b, k), v in self.server.store.objects.items()
                          if b == bucket and k.startswith(prefix))
        start = int(token) if token else 0
        page = keys[start:start + mk]
        trunc = start + mk < len(keys)
        enc = (lambda s: urllib.parse.quote(s, safe="/")) if q.get("encoding-type") == "url" else escape
        xml = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               f"<Name>{bucket}</Name><IsTruncated>{'true' if trunc else 'false'}</IsTruncated>"]
        if trunc:
            xml.append(f"<NextContinuationToken>{start + mk}</NextContinuationToken>")
        for k, n in page:
            xml.append(f"<Contents><Key>{enc(k)}</Key><Size>{n}</Size></Contents>")
        xml.append("</ListBucketResult>")
        self.send(200, "".join(xml).encode(), [("Content-Type", "application/xml")])

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


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
    ap.add_argument("--key-id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    self_test(a.region)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.key_id, srv.secret, srv.store = a.key_id, a.secret, Store()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
