"""Issue 12, item 8: PUBLISH_SOURCE_TOKEN went to any http(s) host a row of publish_jobs
named, over plain http too. Now only hosts in PUBLISH_SOURCE_HOSTS receive it, over https
unless the item says http://. Three real sources on loopback record every Authorization
header they are sent: the listed one (http://127.0.0.1:<port>) gets the token; the same host
on another port, and a host listed for https only but fetched over plain http, never see it,
and their jobs fail saying why."""
import os
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler

from tickd_rig import handlers as hrig, rig
from tickd_rig.util import Skip, check, wait_for

SEEN = []  # (port, Authorization header or None)


class Recorder(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        auth = self.headers.get("Authorization")
        SEEN.append((self.server.server_address[1], auth))
        if auth != "Bearer " + hrig.TOKEN:
            return hrig.reply(self, 401)
        hrig.reply(self, 200, open(os.path.join(self.server.root, "pic.jpg"), "rb").read())


def test(r):
    if shutil.which("vips") is None:
        raise Skip("the vips command (Debian libvips-tools) is not installed")
    web = os.path.join(r.tmp, "web")
    os.makedirs(web)
    subprocess.check_call(["vips", "black", os.path.join(web, "pic.jpg"), "600", "400", "--bands", "3"])
    listed, other_port, https_only = (hrig.serve(r, Recorder, web) for _ in range(3))
    port = lambda base: int(base.rsplit(":", 1)[1])
    rid = r.add_region("pub", "* * * * * *", handlers=["publish"])
    jobs = {name: r.sql_value("INSERT INTO publish_jobs (region_id, source) VALUES (%s, %s) RETURNING id",
                              (rid, base + "/pic.jpg"))
            for name, base in (("listed", listed), ("other_port", other_port), ("https_only", https_only))}
    storage = os.path.join(r.tmp, "storage")
    os.makedirs(storage)
    t = r.start_tickd(STORAGE_URL="file://" + storage, PUBLISH_SOURCE_TOKEN=hrig.TOKEN,
                      PUBLISH_SOURCE_HOSTS="%s, 127.0.0.1:%d" % (listed, port(https_only)))
    wait_for(lambda: r.sql_value("SELECT count(*) FROM publish_jobs WHERE status IN ('completed', 'failed')") == 3,
             30, "the three jobs done")
    rows = {jid: (status, error) for jid, status, error in r.sql("SELECT id, status, error FROM publish_jobs")}
    check(rows[jobs["listed"]][0] == "completed", "the listed source got the token and was published",
          rows[jobs["listed"]])
    for name in ("other_port", "https_only"):
        status, error = rows[jobs[name]]
        check(status == "failed" and "sent without PUBLISH_SOURCE_TOKEN" in (error or ""),
              "%s: failed, saying the token was not sent" % name, (status, error))
    for base in (other_port, https_only):
        leaked = [auth for p, auth in SEEN if p == port(base) and auth]
        check(not leaked and any(p == port(base) for p, _ in SEEN), "%s asked, never sent the token" % base, SEEN)
    check(any(p == port(listed) and auth for p, auth in SEEN), "the listed source was sent the token", SEEN)
    hrig.assert_no_secrets(t, hrig.TOKEN)


rig.main(test)
