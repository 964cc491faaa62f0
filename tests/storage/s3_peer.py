#!/usr/bin/env python3
"""A strict S3-protocol test peer: verifies AWS Signature Version 4 the way S3 does, stores
objects in memory, and can be told to fail. Python stdlib only.

    s3_peer.py --port 0 [--access-key K --secret-key S] [--region R] [--page-size N]
    s3_peer.py --self-test          # checks the verifier against AWS's documented example

It prints "PORT <n>" on stdout once listening. Path-style only (/BUCKET/KEY); any bucket
exists. Supported: PUT/GET/HEAD/DELETE object, ListObjectsV2 (pages of --page-size keys,
continuation tokens that need percent-encoding), multipart upload (create, part, complete,
abort). The signature check rebuilds the canonical request from the *decoded* path and query
and encodes them the AWS way (every byte but A-Za-z0-9-_.~ as %XX, '/' kept in the path,
query sorted), so a client that signs a non-canonical URL (an unsorted query, a literal '+',
'%7E', a raw '/' in a query value) is refused with 403 SignatureDoesNotMatch, as by S3. A
missing x-amz-content-sha256 is refused with 400; a payload hash that does not match the
body with 400 XAmzContentSHA256Mismatch.

Control (unsigned, for tests): POST /__control/fail {"method": "PUT", "status": 500,
"count": 2, "match": "substring of path"} makes the next `count` matching requests answer
`status`; GET /__control/log returns the requests seen [{"method","path","status"}];
POST /__control/reset clears both; POST /__control/delay {"seconds": s} delays each PUT body
read (for kill tests).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def aws_encode(data, keep_slash):
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        if b in UNRESERVED or (keep_slash and b == ord("/")):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_query(raw_query):
    pairs = []
    if raw_query:
        for part in raw_query.split("&"):
            if part == "":
                continue
            k, _, v = part.partition("=")
            # Decode as S3 does ('+' stays a literal plus in the path-style S3 REST API? No:
            # S3 decodes '+' in query values as a space), then re-encode canonically.
            k = urllib.parse.unquote_to_bytes(k.replace("+", " "))
            v = urllib.parse.unquote_to_bytes(v.replace("+", " "))
            pairs.append((aws_encode(k, False), aws_encode(v, False)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def signing_key(secret, date, region, service):
    def h(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
    return h(h(h(h(("AWS4" + secret).encode("utf-8"), date), region), service), "aws4_request")


def signature(secret, method, raw_path, raw_query, headers, signed_headers, payload_hash, amz_date, region,
              service="s3"):
    """headers: dict of lower-case name -> list of values (as received)."""
    path_bytes = urllib.parse.unquote_to_bytes(raw_path)
    canonical_uri = aws_encode(path_bytes, True)
    lines = []
    for name in signed_headers:
        values = headers.get(name, [])
        value = ",".join(" ".join(v.strip().split()) for v in values)
        lines.append("%s:%s\n" % (name, value))
    canonical_request = "\n".join([
        method, canonical_uri, canonical_query(raw_query), "".join(lines), ";".join(signed_headers),
        payload_hash])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    key = signing_key(secret, amz_date[:8], region, service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest(), canonical_request


def self_test(quiet=False):
    """The GET Object example of AWS's 'Signature Calculations for the Authorization Header:
    Transferring Payload in a Single Chunk' page."""
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    headers = {"host": ["examplebucket.s3.amazonaws.com"], "range": ["bytes=0-9"],
               "x-amz-content-sha256": [empty], "x-amz-date": ["20130524T000000Z"]}
    sig, _ = signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "GET", "/test.txt", "", headers,
                       ["host", "range", "x-amz-content-sha256", "x-amz-date"], empty, "20130524T000000Z",
                       "us-east-1")
    expected = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    if sig != expected:
        print("self-test FAILED: %s != %s" % (sig, expected))
        return 1
    # The same page's ListObjects example: a sorted, encoded query.
    headers = {"host": ["examplebucket.s3.amazonaws.com"], "x-amz-content-sha256": [empty],
               "x-amz-date": ["20130524T000000Z"]}
    sig, _ = signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "GET", "/", "max-keys=2&prefix=J", headers,
                       ["host", "x-amz-content-sha256", "x-amz-date"], empty, "20130524T000000Z", "us-east-1")
    expected = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    if sig != expected:
        print("self-test FAILED (list): %s != %s" % (sig, expected))
        return 1
    if not quiet:
        print("self-test ok: both AWS example signatures reproduced")
    return 0


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}   # (bucket, key) -> (bytes, etag)
        self.uploads = {}   # upload id -> {"bucket", "key", "parts": {n: (bytes, md5 hex)}}
        self.failures = []  # [{"method", "status", "count", "match"}]
        self.log = []
        self.put_delay = 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-peer"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- plumbing --
    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        chunks = []
        while n > 0:
            if self.server.store.put_delay and self.command == "PUT":
                time.sleep(self.server.store.put_delay)
            c = self.rfile.read(min(n, 1 << 20))
            if not c:
                break
            chunks.append(c)
            n -= len(c)
        if n > 0:
            # The client went away mid-body (killed): store nothing, as S3 would.
            raise ConnectionAbortedError("request body cut short")
        return b"".join(chunks)

    def _send(self, status, body=b"", headers=None, head=False):
        if isinstance(body, str):
            body = body.encode("utf-8")
        # Logged before answering, so a client that asks for the log next sees this request.
        if not self.path.startswith("/__control/"):
            with self.server.store.lock:
                self.server.store.log.append({"method": self.command, "path": self.path, "status": status})
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status, code, message, head=False):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>"
                % (code, xml_escape(message)))
        self._send(status, body, {"Content-Type": "application/xml"}, head=head)

    # -- auth --
    def _verify(self, body):
        cfg = self.server.cfg
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return 403, "AccessDenied", "missing or unsupported Authorization"
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        cred = fields.get("Credential", "").split("/")
        if len(cred) != 5 or cred[4] != "aws4_request" or cred[3] != "s3":
            return 403, "AuthorizationHeaderMalformed", "bad Credential scope"
        if cred[0] != cfg.access_key:
            return 403, "InvalidAccessKeyId", "unknown access key"
        if cred[2] != cfg.region:
            return 400, "AuthorizationHeaderMalformed", "region %s is wrong; expecting %s" % (cred[2], cfg.region)
        amz_date = self.headers.get("x-amz-date", "")
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return 403, "AccessDenied", "bad x-amz-date"
        if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
            return 403, "RequestTimeTooSkewed", "more than 15 minutes off"
        if cred[1] != amz_date[:8]:
            return 403, "SignatureDoesNotMatch", "credential date differs from x-amz-date"
        payload_hash = self.headers.get("x-amz-content-sha256")
        if payload_hash is None:
            return 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
            return 400, "XAmzContentSHA256Mismatch", "the payload hash does not match the body"
        signed = fields.get("SignedHeaders", "").split(";")
        if "host" not in signed or "x-amz-content-sha256" not in signed or "x-amz-date" not in signed:
            return 403, "AccessDenied", "host, x-amz-content-sha256 and x-amz-date must be signed"
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        raw_path, _, raw_query = self.path.partition("?")
        expected, canonical = signature(cfg.secret_key, self.command, raw_path, raw_query, headers, signed,
                                        payload_hash, amz_date, cfg.region)
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            if cfg.verbose:
                sys.stderr.write("signature mismatch; canonical request:\n%s\n" % canonical)
            return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
        return None

    def _injected(self):
        store = self.server.store
        with store.lock:
            for f in store.failures:
                if f["count"] > 0 and f.get("method", self.command) == self.command and f.get("match", "") in self.path:
                    f["count"] -= 1
                    return f["status"]
        return None

    # -- dispatch --
    def _handle(self):
        if self.path.startswith("/__control/"):
            return self._control()
        body = self._body() if self.command in ("PUT", "POST") else b""
        status = self._injected()
        if status is not None:
            return self._error(status, "InjectedFailure" if status >= 500 else "AccessDenied",
                               "injected by the test", head=self.command == "HEAD")
        problem = self._verify(body)
        if problem:
            return self._error(problem[0], problem[1], problem[2], head=self.command == "HEAD")
        raw_path, _, raw_query = self.path.partition("?")
        path = urllib.parse.unquote(raw_path, errors="strict")
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket:
            return self._error(400, "InvalidBucketName", "no bucket in the path (path-style only)")
        m = self.command
        if key == "":
            if m == "GET":
                return self._list(bucket, query)
            return self._error(405, "MethodNotAllowed", "bucket operations are not supported")
        if m == "POST" and "uploads" in query:
            return self._create_upload(bucket, key)
        if m == "PUT" and "uploadId" in query:
            return self._put_part(query, body)
        if m == "POST" and "uploadId" in query:
            return self._complete(bucket, key, query, body)
        if m == "DELETE" and "uploadId" in query:
            with self.server.store.lock:
                self.server.store.uploads.pop(query["uploadId"], None)
            return self._send(204)
        if m == "PUT":
            etag = hashlib.md5(body).hexdigest()
            with self.server.store.lock:
                self.server.store.objects[(bucket, key)] = (body, etag)
            return self._send(200, b"", {"ETag": '"%s"' % etag})
        if m in ("GET", "HEAD"):
            with self.server.store.lock:
                obj = self.server.store.objects.get((bucket, key))
            if obj is None:
                return self._error(404, "NoSuchKey", "The specified key does not exist.", head=m == "HEAD")
            data, etag = obj
            if m == "HEAD":
                with self.server.store.lock:
                    self.server.store.log.append({"method": m, "path": self.path, "status": 200})
                self.send_response(200)
                self.send_header("ETag", '"%s"' % etag)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return None
            return self._send(200, data, {"ETag": '"%s"' % etag, "Content-Type": "application/octet-stream"})
        if m == "DELETE":
            with self.server.store.lock:
                self.server.store.objects.pop((bucket, key), None)
            return self._send(204)
        return self._error(405, "MethodNotAllowed", "not supported")

    def _list(self, bucket, query):
        if query.get("list-type") != "2":
            return self._error(400, "InvalidArgument", "only ListObjectsV2 (list-type=2)")
        prefix = query.get("prefix", "")
        page = min(int(query.get("max-keys", "1000")), self.server.cfg.page_size)
        after = ""
        if "continuation-token" in query:
            try:
                after = base64.b64decode(query["continuation-token"], validate=True).decode("utf-8")
            except Exception:  # noqa: BLE001
                return self._error(400, "InvalidArgument", "bad continuation token")
        with self.server.store.lock:
            keys = sorted(k for (b, k) in self.server.store.objects if b == bucket and k.startswith(prefix)
                          and (not after or k.encode("utf-8") > after.encode("utf-8")))
            keys.sort(key=lambda k: k.encode("utf-8"))
            items = [(k, self.server.store.objects[(bucket, k)]) for k in keys[:page]]
        truncated = len(keys) > page
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>',
               "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>"
               % (xml_escape(bucket), xml_escape(prefix), len(items), page),
               "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
        if truncated:
            # A token with '/', '+' and '=' in it, as real ones have: it must be encoded.
            token = base64.b64encode(items[-1][0].encode("utf-8")).decode("ascii")
            out.append("<NextContinuationToken>%s</NextContinuationToken>" % xml_escape(token))
        for k, (data, etag) in items:
            out.append("<Contents><Key>%s</Key><Size>%d</Size><ETag>&quot;%s&quot;</ETag></Contents>"
                       % (xml_escape(k), len(data), etag))
        out.append("</ListBucketResult>")
        return self._send(200, "".join(out), {"Content-Type": "application/xml"})

    def _create_upload(self, bucket, key):
        upload_id = uuid.uuid4().hex
        with self.server.store.lock:
            self.server.store.uploads[upload_id] = {"bucket": bucket, "key": key, "parts": {}}
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>%s</Bucket>"
                "<Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>"
                % (xml_escape(bucket), xml_escape(key), upload_id))
        return self._send(200, body, {"Content-Type": "application/xml"})

    def _put_part(self, query, body):
        with self.server.store.lock:
            up = self.server.store.uploads.get(query["uploadId"])
            if up is None:
                return self._error(404, "NoSuchUpload", "no such upload")
            md5 = hashlib.md5(body).hexdigest()
            up["parts"][int(query["partNumber"])] = (body, md5)
        return self._send(200, b"", {"ETag": '"%s"' % md5})

    def _complete(self, bucket, key, query, body):
        import re
        wanted = re.findall(r"<PartNumber>(\d+)</PartNumber>\s*<ETag>(?:&quot;|\")([0-9a-f]+)(?:&quot;|\")</ETag>",
                            body.decode("utf-8"))
        with self.server.store.lock:
            up = self.server.store.uploads.pop(query["uploadId"], None)
            if up is None:
                return self._error(404, "NoSuchUpload", "no such upload")
            data, digests = [], []
            for n, etag in wanted:
                part = up["parts"].get(int(n))
                if part is None or part[1] != etag:
                    return self._error(400, "InvalidPart", "part %s is missing or its ETag differs" % n)
                if int(n) != len(wanted) and len(part[0]) < 5 * 1024 * 1024:
                    return self._error(400, "EntityTooSmall", "part %s is smaller than 5 MiB" % n)
                data.append(part[0])
                digests.append(bytes.fromhex(part[1]))
            etag = "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(wanted))
            self.server.store.objects[(bucket, key)] = (b"".join(data), etag)
        out = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Bucket>%s</Bucket>"
               "<Key>%s</Key><ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>"
               % (xml_escape(bucket), xml_escape(key), etag))
        return self._send(200, out, {"Content-Type": "application/xml"})

    def _control(self):
        store = self.server.store
        body = self._body() if self.command == "POST" else b""
        what = self.path[len("/__control/"):]
        if what == "fail":
            with store.lock:
                store.failures.append(json.loads(body))
            return self._send(200, b"{}")
        if what == "reset":
            with store.lock:
                store.failures.clear()
                store.log.clear()
                store.put_delay = 0.0
            return self._send(200, b"{}")
        if what == "delay":
            store.put_delay = float(json.loads(body)["seconds"])
            return self._send(200, b"{}")
        if what == "log":
            with store.lock:
                data = json.dumps(store.log).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if what == "objects":
            with store.lock:
                data = json.dumps({"%s/%s" % bk: {"size": len(v[0]), "etag": v[1]}
                                   for bk, v in store.objects.items()}).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._send(404, b"{}")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--access-key", default="AKIDTICKDTEST")
    p.add_argument("--secret-key", default="tickd/test+secret=key")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--self-test", action="store_true")
    cfg = p.parse_args()
    if cfg.self_test:
        sys.exit(self_test())
    if self_test(quiet=True) != 0:
        sys.exit(1)
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # Clients that are killed mid-request (the takeover tests) are expected here.
            if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", cfg.port), Handler)
    server.daemon_threads = True
    server.cfg = cfg
    server.store = Store()
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
