"""A bounded load run on loopback: the site built for /tutorial/, served by the shipped nginx recipe
(deploy/nginx/), asked for the home page, a tutorial and the Chinese search index by N keep-alive connections
for S seconds each, gzip accepted as a browser does.  It prints requests per second and the 99th percentile
latency, once with the recipe as shipped (the build's .gz files, gzip_static on) and once compressing every
answer on the fly (gzip_static off: the recipe before pre-compressed files), and writes build/loadtest.json.

    .venv/bin/python tools/loadtest.py                 # 20 s at 50 connections per URL and mode
    .venv/bin/python tools/loadtest.py --seconds 5 --connections 20 --site /tmp/site   # a quicker look

The client is Python (asyncio, one process), on the same machine as nginx: the figures compare the two modes
on one machine, they are not the server's capacity.  Not a test; `make benchmark` runs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

from scow_tutorials import nginx
from scow_tutorials.common import ROOT, mkdocs_build

URLS = {
    "home": nginx.PREFIX,
    "tutorial": nginx.PREFIX + "tutorials/01-house-prices/",
    "search index": nginx.PREFIX + "search/search_index.json",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection: nginx does after keepalive_requests answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def _connection(
    port: int, path: str, until: float, latencies: list[float], errors: list[str], timeout: float
) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, deflate\r\nUser-Agent: loadtest\r\n\r\n"
    ).encode()
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.monotonic() < until:
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            reader, writer = conn
            start = time.monotonic()
            writer.write(request)
            status, close = await asyncio.wait_for(_read_response(reader), timeout)
            latencies.append(time.monotonic() - start)
            if status != 200:
                errors.append(f"HTTP {status}")
            if close:
                writer.close()
                conn = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            if conn is not None:
                conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()


async def _run(port: int, path: str, seconds: float, connections: int, timeout: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(_connection(port, path, until, latencies, errors, timeout) for _ in range(connections)))
    elapsed = time.monotonic() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    kinds = {kind: errors.count(kind) for kind in sorted(set(errors))}
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": kinds,
        "seconds": round(elapsed, 2),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p99_ms": round(p99 * 1000, 1),
    }


def load(site: Path, seconds: float, connections: int, timeout: float = 5.0) -> dict:
    """{mode: {url name: figures}} for the recipe with and without gzip_static."""
    results: dict = {}
    for mode, gzip_static in (("on the fly (gzip_static off)", False), ("as shipped (gzip_static on)", True)):
        with tempfile.TemporaryDirectory(prefix="loadtest-nginx-") as tmp:
            port = free_port()
            conf = nginx.write_config(Path(tmp), port, site, Path(tmp) / "access.log", gzip_static=gzip_static)
            proc = nginx.start(conf, port)
            try:
                results[mode] = {
                    name: asyncio.run(_run(port, path, seconds, connections, timeout)) for name, path in URLS.items()
                }
            finally:
                nginx.stop(proc)
    return results


def table(results: dict, seconds: float, connections: int) -> str:
    lines = [
        f"Load run: {seconds:g} s at {connections} connections per URL, loopback, gzip accepted",
        f"{'nginx':32} {'URL':14} {'req/s':>9} {'p99 ms':>8} {'errors':>7}",
    ]
    for mode, rows in results.items():
        for name, r in rows.items():
            lines.append(f"{mode:32} {name:14} {r['req_per_s']:>9.1f} {r['p99_ms']:>8.1f} {r['errors']:>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="per URL and mode (default 20)")
    ap.add_argument("--connections", type=int, default=50, help="concurrent keep-alive connections (default 50)")
    ap.add_argument("--site", type=Path, help="a site already built for http://127.0.0.1/tutorial/ (default: build)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "loadtest.json")
    args = ap.parse_args(argv)
    if not 0 < args.seconds <= 120 or not 0 < args.connections <= 500:
        ap.error("--seconds must be in (0, 120] and --connections in (0, 500]: the run is bounded")
    if nginx.binary() is None:
        print("nginx is missing: sudo apt-get install nginx", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="loadtest-site-") as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            build = mkdocs_build(site, SITE_URL="http://127.0.0.1/tutorial/")
            if build.returncode != 0:
                print((build.stdout + build.stderr)[-3000:], file=sys.stderr)
                return 1
        results = load(site, args.seconds, args.connections)
    print(table(results, args.seconds, args.connections))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"seconds": args.seconds, "connections": args.connections, "results": results}, indent=2) + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
