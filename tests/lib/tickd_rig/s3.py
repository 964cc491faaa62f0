"""S3 peers for tests: the SigV4-verifying tests/storage/s3_peer.py and npm's s3rver."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from tickd_rig.util import free_port

# tests/storage/s3_peer.py: a program of its own (with a self-test), started as a subprocess.
S3_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "storage", "s3_peer.py")


class S3Peer:
    """tests/storage/s3_peer.py in a subprocess; `endpoint` is http://127.0.0.1:PORT."""
    access_key = "AKIDTICKDTEST"
    secret_key = "tickd/test+secret=key"

    def __init__(self, page_size=1000, verbose=False):
        args = [sys.executable, S3_PEER, "--port", "0", "--page-size", str(page_size)]
        if verbose:
            args.append("--verbose")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("s3_peer.py did not start: %r" % line)
        self.port = int(line.split()[1])
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def control(self, what, body=None):
        data = None if body is None else body.encode("utf-8")
        req = urllib.request.Request(self.endpoint + "/__control/" + what, data=data,
                                     method="POST" if data is not None or what != "log" and what != "objects" else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode("utf-8")

    def storage_url(self, bucket="tickd"):
        return "s3://%s?endpoint=%s&region=us-east-1" % (bucket, self.endpoint)

    def close(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class S3rver:
    """npm s3rver in a subprocess (bucket `tickd-test` and `tickd`), credentials S3RVER/S3RVER."""

    @staticmethod
    def binary():
        modules = os.environ.get("TICKD_NODE_MODULES", "")
        path = os.path.join(modules, ".bin", "s3rver") if modules else ""
        return path if path and os.path.exists(path) else None

    @classmethod
    def maybe(cls):
        return cls() if cls.binary() else _Null()

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tickd-s3rver-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [self.binary(), "-d", os.path.join(self.dir, "data"), "-a", "127.0.0.1", "-p", str(self.port),
             "--silent", "--configure-bucket", "tickd-test", "--configure-bucket", "tickd"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("s3rver did not start: " + open(os.path.join(self.dir, "log")).read())
                time.sleep(0.1)

    def storage_url(self, bucket="tickd"):
        return "s3://%s?endpoint=%s&region=us-east-1&path_style=true" % (bucket, self.endpoint)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
