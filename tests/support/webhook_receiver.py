"""A municipal service's webhook endpoint, for the tests: it verifies every delivery with the
published `standardwebhooks` package (an implementation independent of ilot's) and records it
in STATE_DIR/received.jsonl; it answers 503 while STATE_DIR/down exists, 400 to a delivery
that does not verify, 200 otherwise. Usage: webhook_receiver.py SECRET STATE_DIR; prints its
port, then serves until killed."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

secret, state_dir = sys.argv[1], sys.argv[2]
webhook = Webhook(secret)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        down = os.path.exists(os.path.join(state_dir, "down"))
        try:
            webhook.verify(body, headers)
            verified, error = True, None
        except Exception as e:  # the library's verification errors
            verified, error = False, repr(e)
        record = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "verified": verified,
            "error": error,
            "down": down,
            "body": body.decode("utf-8", "replace"),
        }
        with open(os.path.join(state_dir, "received.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(503 if down else (200 if verified else 400))
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
