"""The shipped nginx recipe (deploy/nginx/) run on loopback, for the browser tests and the load run
(tools/loadtest.py): the files as an administrator installs them, with only the lines marked EDIT replaced."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
PREFIX = "/tutorial/"
# The placeholders of the lines marked "EDIT" in deploy/nginx/*.conf.
CONF_SITE = "/srv/tutorial-scow/site/"
CONF_LOG = "/var/log/nginx/tutorial-scow.access.log"
CONF_SNIPPETS = "/etc/nginx/snippets/tutorial-scow/"
RECIPE = ("http-level.conf", "tutorial.conf", "tutorial-headers.conf")
PLACEHOLDERS = {"tutorial.conf": (CONF_SITE, CONF_LOG, CONF_SNIPPETS), "tutorial-headers.conf": (CONF_SITE,)}


def binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def write_config(
    tmp: Path,
    port: int,
    site: Path,
    access_log: Path,
    *,
    gzip_static: bool = True,
    workers: int = 1,
    host_headers: str = "",
) -> Path:
    """nginx.conf in ``tmp`` serving ``site`` under /tutorial/ on 127.0.0.1:port with the recipe's files.
    ``gzip_static=False`` is the recipe before pre-compressed files (for the load run's comparison);
    ``host_headers`` are add_header lines a host sets in its server { }."""
    tmp = Path(tmp)
    for name in RECIPE:
        text = (NGINX_DIR / name).read_text(encoding="utf-8")
        for placeholder in PLACEHOLDERS.get(name, ()):
            assert placeholder in text, f"deploy/nginx/{name} lost its EDIT placeholder {placeholder}"
        text = text.replace(CONF_SITE, f"{site}/").replace(CONF_LOG, str(access_log)).replace(CONF_SNIPPETS, f"{tmp}/")
        if not gzip_static:
            text = text.replace("gzip_static on;", "gzip_static off;")
        (tmp / name).write_text(text, encoding="utf-8")
    mime = Path("/etc/nginx/mime.types")
    # nginx as root starts its workers as another user, who could not read pytest's private tmp folders.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    types = (
        f"include {mime};"
        if mime.exists()
        else "types { text/html html; text/css css; application/javascript js; application/json json; "
        "image/svg+xml svg; }"
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""{user}
daemon off;
worker_processes {workers};
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    {types}
    default_type application/octet-stream;
{temp}
    access_log {tmp / "other-access.log"};
    include {tmp / "http-level.conf"};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        {host_headers}
        include {tmp / "tutorial.conf"};
    }}
}}
""",
        encoding="utf-8",
    )
    return conf


def start(conf: Path, port: int, timeout: float = 15) -> subprocess.Popen:
    """Start nginx with ``conf`` and wait until /tutorial/ answers 200; raises RuntimeError otherwise."""
    tmp = conf.parent
    proc = subprocess.Popen(
        [binary() or "nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                "nginx did not start:\n" + (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", PREFIX)
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"nginx did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
