"""How every tool and test here starts Debian's Chromium: headless, sandbox off (root in CI), and unable to
reach anything but this machine. Without the resolver rule Chromium looks up Google hosts even with the
background-networking flags."""

CHROMIUM = "/usr/bin/chromium"
RESOLVER_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    f"--host-resolver-rules={RESOLVER_RULES}",
]
