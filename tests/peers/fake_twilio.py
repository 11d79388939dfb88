#!/usr/bin/env python3
"""A fake Twilio Messages API for the demo (config/demo.toml points the
`shop` account's api_base at it). Prints every message the daemon sends and
answers 201 like Twilio. Standard library only.

    tests/peers/fake_twilio.py [--port 8089]
"""
import argparse
import base64
import http.server
import json
import urllib.parse
import uuid


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        auth = self.headers.get("authorization", "")
        user = base64.b64decode(auth[6:]).decode().split(":")[0] if auth.startswith("Basic ") else "-"
        print(f"POST {self.path} as {user}: to={form.get('To')} body={form.get('Body')}", flush=True)
        sid = "SM" + uuid.uuid4().hex
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"sid": sid, "status": "queued"}).encode())

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8089)
    port = p.parse_args().port
    print(f"fake Twilio Messages API on 127.0.0.1:{port}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
