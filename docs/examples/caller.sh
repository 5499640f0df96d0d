#!/bin/sh
# Get a token from systemuser-agent with curl, then introspect it.
# Usage: caller.sh TOKEN_URL CLIENT_ID SECRET_FILE
#   e.g. caller.sh http://127.0.0.1:7070/oauth2/token sap /etc/systemuser-agent-clients/sap.secret
# The secret is read by curl from its file (client_secret_post), so it is never on a command line.
set -eu
token_url=$1 client_id=$2 secret_file=$3

reply=$(curl -sS --fail-with-body --noproxy '*' \
  --data grant_type=client_credentials \
  --data-urlencode "client_id=$client_id" \
  --data-urlencode "client_secret@$secret_file" \
  "$token_url")
token=$(printf '%s' "$reply" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
expires_in=$(printf '%s' "$reply" | sed -n 's/.*"expires_in":\([0-9]*\).*/\1/p')
echo "got a token for $expires_in s"

# Use it: curl -H @- reads the header from stdin, so the token stays off the command line too.
# printf 'Authorization: Bearer %s\n' "$token" | curl -sS -H @- https://api.example/...

# Ask the agent what the token is (RFC 7662), the token again on stdin.
printf '%s' "$token" | curl -sS --fail-with-body --noproxy '*' \
  --data-urlencode "client_id=$client_id" \
  --data-urlencode "client_secret@$secret_file" \
  --data-urlencode "token@-" \
  "${token_url%/token}/introspect"
