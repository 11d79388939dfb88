#!/usr/bin/env python3
"""Sends a Twilio-signed inbound SMS webhook to a running daemon, as Twilio
would (the demo configuration's account and token by default). Standard
library only.

    tests/peers/send_sms.py "Where is my order?" [--from +14155550100] [--sid SM...]
"""
import argparse
import base64
import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request
import uuid

p = argparse.ArgumentParser()
p.add_argument("text")
p.add_argument("--url", default="http://127.0.0.1:8080/webhooks/sms/shop")
p.add_argument("--token", default="demo-auth-token")
p.add_argument("--from", dest="sender", default="+14155550100")
p.add_argument("--to", default="+15005550006")
p.add_argument("--sid", default="SM" + uuid.uuid4().hex)
a = p.parse_args()

params = {"MessageSid": a.sid, "AccountSid": "ACdemo00000000000000000000000000", "From": a.sender,
          "To": a.to, "Body": a.text, "NumMedia": "0"}
data = a.url + "".join(k + params[k] for k in sorted(params))
sig = base64.b64encode(hmac.new(a.token.encode(), data.encode(), hashlib.sha1).digest()).decode()
req = urllib.request.Request(a.url, data=urllib.parse.urlencode(params).encode(),
                             headers={"X-Twilio-Signature": sig})
try:
    with urllib.request.urlopen(req) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
