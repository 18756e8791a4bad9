#!/usr/bin/env python3
"""A local ATS receiver for the README's walk-through: listens on 127.0.0.1:9000, checks each
delivery's Standard Webhooks signature with the project's signing secret, and prints it.

    python3 examples/receiver/receiver.py whsec_...

Only the standard library: the signature is base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
the key being the secret's base64 part after `whsec_`; `webhook-signature` may hold several
space-separated `v1,<signature>` (during a secret rotation)."""

import base64
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = sys.argv[1] if len(sys.argv) > 1 else ""
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
        offered = [s.split(",", 1)[-1] for s in self.headers.get("webhook-signature", "").split()]
        valid = any(hmac.compare_digest(expected, s) for s in offered)
        self.send_response(200 if valid else 401)
        self.end_headers()
        print(("signature valid" if valid else "SIGNATURE INVALID"), json.dumps(json.loads(body), indent=2), flush=True)

    def log_message(self, *args):
        pass


print("listening on http://127.0.0.1:9000", flush=True)
HTTPServer(("127.0.0.1", 9000), Receiver).serve_forever()
