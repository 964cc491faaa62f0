"""publish on the file backend: WebP variants of a storage-key source and of an http(s) source
fetched with the bearer token (thumb 400 px, display 1600 px, never upscaled), and permanent
failures for a corrupt image, an image over PUBLISH_MAX_PIXELS (refused from its header), a
404 and a refused token. The token never appears in logs, /metrics or /status."""
import json
import os
import shutil
import struct
import subprocess
import zlib
from http.server import BaseHTTPRequestHandler

from tickd_rig import handlers as hrig, rig
from tickd_rig.util import Skip, check, wait_for


def huge_png(path, width=30000, height=30000):
    """A PNG whose header claims width x height pixels, with one row of data: decoding it whole
    would need gigabytes; its header alone says it is too big."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * width)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def width_of(path):
    return int(subprocess.check_output(["vipsheader", "-f", "width", path]).strip())


class Source(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + hrig.TOKEN or self.path == "/refuse.jpg":
            return hrig.reply(self, 403)
        path = os.path.join(self.server.root, self.path.lstrip("/"))
        if not os.path.exists(path):
            return hrig.reply(self, 404)
        hrig.reply(self, 200, open(path, "rb").read())


def test(r):
    if shutil.which("vips") is None:
        raise Skip("the vips command (Debian libvips-tools) is not installed")
    storage = os.path.join(r.tmp, "storage")
    os.makedirs(os.path.join(storage, "src"))
    subprocess.check_call(["vips", "black", os.path.join(storage, "src", "wide.jpg"), "3000", "2000", "--bands", "3"])
    subprocess.check_call(["vips", "black", os.path.join(storage, "src", "small.png"), "300", "200"])
    with open(os.path.join(storage, "src", "junk.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 50)
    huge_png(os.path.join(storage, "src", "huge.png"))
    web = os.path.join(r.tmp, "web")
    os.makedirs(web)
    subprocess.check_call(["vips", "black", os.path.join(web, "remote.jpg"), "1000", "800", "--bands", "3"])
    base = hrig.serve(r, Source, web)

    rid = r.add_region("pub", "* * * * * *", handlers=["publish"])
    jobs = {}
    for name, source in [("wide", "src/wide.jpg"), ("small", "src/small.png"), ("junk", "src/junk.jpg"),
                         ("huge", "src/huge.png"), ("remote", base + "/remote.jpg"), ("absent", base + "/nope.jpg"),
                         ("refused", base + "/refuse.jpg"), ("nokey", "src/none.jpg")]:
        jobs[name] = r.sql_value("INSERT INTO publish_jobs (region_id, source) VALUES (%s, %s) RETURNING id",
                                 (rid, source))
    t = r.start_tickd(STORAGE_URL="file://" + storage, PUBLISH_SOURCE_TOKEN=hrig.TOKEN,
                      PUBLISH_SOURCE_HOSTS=base,  # "http://127.0.0.1:port": plain http allowed
                      CDN_BASE_URL="https://img.example.com")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM publish_jobs WHERE status IN ('completed', 'failed')") == 8,
             40, "all publish jobs done")
    rows = {jid: (status, variants, error, retries) for jid, status, variants, error, retries in
            r.sql("SELECT id, status, variants, error, retry_count FROM publish_jobs")}

    for name, widths in [("wide", (400, 1600)), ("small", (300, 300)), ("remote", (400, 1000))]:
        status, variants, error, _ = rows[jobs[name]]
        check(status == "completed", "%s completed" % name, (status, error))
        for variant, width in zip(("thumb", "display"), widths):
            key = "pub/%d/%s.webp" % (jobs[name], variant)
            check(variants[variant] == "https://img.example.com/" + key, "variant url", variants)
            check(width_of(os.path.join(storage, key)) == width, "%s %s is %d px wide" % (name, variant, width),
                  width_of(os.path.join(storage, key)))
    for name, words in [("junk", "corrupt or unsupported image src/junk.jpg"),
                        ("huge", "30000x30000 = 900000000 pixels, over PUBLISH_MAX_PIXELS (100000000)"),
                        ("absent", "HTTP 404"), ("refused", "refused PUBLISH_SOURCE_TOKEN"),
                        ("nokey", "no such object")]:
        status, _, error, retries = rows[jobs[name]]
        check(status == "failed" and retries == 0, "%s failed at once" % name, (status, retries, error))
        check(words in error, "%s: error says %r" % (name, words), error)
    d = hrig.details(r, rid, "publish")
    check(d.get("completed") == 3 and d.get("failed") == 5, "counts in job_run.details", d)
    hrig.assert_no_secrets(t, hrig.TOKEN)
    check(json.loads(t.get("/status")[1]) is not None, "status", "")


rig.main(test)
