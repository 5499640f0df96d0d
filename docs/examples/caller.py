#!/usr/bin/env python3
"""Get a token from systemuser-agent with requests-oauthlib, then introspect it.

Usage: caller.py TOKEN_URL CLIENT_ID SECRET_FILE
Debian: apt-get install python3-requests-oauthlib
"""
import os
import sys
import time

from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

# The agent listens on loopback only, over plain HTTP; oauthlib refuses http:// unless told.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

token_url, client_id, secret_file = sys.argv[1:4]
with open(secret_file, encoding="ascii") as f:
    secret = f.read().strip()
auth = HTTPBasicAuth(client_id, secret)  # client_secret_basic

session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
session.trust_env = False  # straight to loopback: never through a proxy from the environment
for attempt in range(3):
    try:
        token = session.fetch_token(token_url=token_url, auth=auth)
        break
    except Exception as e:  # 503 + Retry-After while Maskinporten is unreachable
        if attempt == 2:
            raise
        print(f"no token yet ({e}); trying again", file=sys.stderr)
        time.sleep(5)
print(f"got a token for {token['expires_in']} s")

# Use it: session.get("https://api.example/...") sends "Authorization: Bearer <token>".
# Ask the agent what the token is (RFC 7662).
reply = session.post(token_url.removesuffix("/token") + "/introspect",
                     data={"token": token["access_token"]}, auth=auth, timeout=10)
reply.raise_for_status()
print(reply.text.strip())
