"""The built site at http://127.0.0.1:PORT/site/, and the walk's "internet": folders a test declares, served
under /_internet/NAME/ (``wget`` and ``curl`` stand-ins map the declared prefixes there)."""

from __future__ import annotations

import http.server
import secrets
import threading
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class SiteServer:
    def __init__(self, site: Path, scratch: Path):
        self.root = scratch
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.root / "site"
        if not link.exists():
            link.symlink_to(site, target_is_directory=True)
        (self.root / "_internet").mkdir(exist_ok=True)
        root = str(self.root)

        class Handler(_Quiet):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=root, **kwargs)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, folder: Path) -> str:
        """Serve a folder; returns its address."""
        name = secrets.token_hex(4)
        (self.root / "_internet" / name).symlink_to(Path(folder).resolve(), target_is_directory=True)
        return f"{self.url}_internet/{name}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
