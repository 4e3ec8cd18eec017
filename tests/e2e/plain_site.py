"""An existing site that knows nothing of wsbackend: every path is one of its pages.

The proxy tests put it behind nginx as the site's own upstream, to show that the snippet takes
no page from it. ``python plain_site.py PORT``.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE = "plain-site"
"""The X-Served-By header of every reply, so tests know who answered."""


class Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"the site's own page for {self.path}\n".encode()
        self.send_response(200)
        self.send_header("X-Served-By", SIGNATURE)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Pages).serve_forever()
