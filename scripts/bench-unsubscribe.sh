#!/usr/bin/env bash
# One-click unsubscribe benchmark (issue 13): `herald daemon` answering RFC 8058 POSTs.
# Sets up a workspace with N contacts on `newsletter` (embedded SQLite, like
# bench-send.sh) and a campaign for that list recorded for 2099 (stored, so its links
# withdraw, but never sent), computes every contact's message token from the documented
# format (DESIGN §11: `v2|key id|m|contact|campaign||expiry`, HMAC-SHA256 with
# HERALD_LINK_KEY, see src/contacts/token.rs), starts `herald daemon`, and fires
# `POST /u/{token}` with body `List-Unsubscribe=One-Click` from `wrk` (Debian package;
# installed if missing), a Lua script walking the tokens so each request is a first
# unsubscribe. Each run uses its own slice of the tokens.
# Then checks nothing was lost: no answer but 200, every contact answered is unsubscribed
# in the database, and each unsubscribed contact has exactly one ledger event for it.
# Prints requests/second per run and the median (target >= 1000).
# Usage: scripts/bench-unsubscribe.sh [N] [RUNS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-90000}
runs=${2:-3}
secs=${3:-5}
conns=${4:-32}
port=${BENCH_WEB_PORT:-18080}
if ! command -v wrk >/dev/null; then
  echo "bench-unsubscribe: installing wrk" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -q
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/herald"
work=$(mktemp -d)
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export HERALD_LINK_KEY=${HERALD_LINK_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}
export HERALD_SUPPRESSION_KEY=${HERALD_SUPPRESSION_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}
cd "$work"
"$bin" init . >/dev/null
sed -i 's/^check_domains = true/check_domains = false/' config/herald.toml
python3 - "$port" config/herald.toml <<'PY'
import re, sys
port, path = sys.argv[1], sys.argv[2]
text = open(path).read()
web = f'[web]\nlisten = "127.0.0.1:{port}"\n'
text = re.sub(r'(?m)^\[web\]\n(listen = .*\n)?', web, text) if re.search(r'(?m)^\[web\]', text) else text + "\n" + web
open(path, "w").write(text)
PY
python3 - "$n" > contacts.csv <<'PY'
import sys
n = int(sys.argv[1])
print("email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists")
for i in range(n):
    print(f"user{i}@example{i % 97}.com,First{i},double_opt_in,consent,2025-03-01,newsletter,newsletter:confirmed")
PY
"$bin" contacts import contacts.csv --json >/dev/null 2>&1
cp campaigns/example.toml bench.toml
sed -i '/^name *=/d; /^send_at *=/d' bench.toml
sed -i '1i name = "bench-unsubscribe"\nsend_at = "2099-01-01T00:00:00Z"' bench.toml
"$bin" campaign schedule bench.toml >/dev/null
db=$(python3 -c 'import re; t=open("config/herald.toml").read(); m=re.search(r"(?m)^url *= *\"sqlite://([^\"]+)\"", t); print(m.group(1) if m else "data/herald.db")')
[ -f "$db" ] || db=$(ls data/*.db | head -n1)

# Every contact's token, in id order, one file per run.
python3 - "$db" "$runs" <<'PY'
import base64, hashlib, hmac, os, sqlite3, sys, time
db, runs = sys.argv[1], int(sys.argv[2])
key = os.environ["HERALD_LINK_KEY"].encode()
key_id = hashlib.sha256(key).hexdigest()[:8]
expires = int(time.time()) + 90 * 86400
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
ids = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM contacts ORDER BY id")]
per = len(ids) // runs
for run in range(runs):
    with open(f"tokens-{run + 1}.txt", "w") as out:
        for cid in ids[run * per:(run + 1) * per]:
            payload = f"v2|{key_id}|m|{cid}|bench-unsubscribe||{expires}".encode()
            tag = hmac.new(key, payload, hashlib.sha256).digest()[:16]
            out.write(f"{b64(payload)}.{b64(tag)}\n")
PY

cat > walk.lua <<'LUA'
-- Each wrk thread walks its own share of the tokens file (every k-th line), once.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  tokens, sent, ok, bad, wrapped = {}, 0, 0, 0, 0
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then tokens[#tokens + 1] = line end
    i = i + 1
  end
end
function request()
  sent = sent + 1
  local t = tokens[sent]
  if t == nil then wrapped = 1; t = tokens[(sent - 1) % #tokens + 1] end
  return wrk.format("POST", "/u/" .. t, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "List-Unsubscribe=One-Click")
end
function response(status)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local s, o, b, w = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); o = o + t:get("ok"); b = b + t:get("bad"); w = w + t:get("wrapped")
  end
  io.write(string.format("WALK sent=%d ok=%d bad=%d wrapped=%d\n", s, o, b, w))
end
LUA

"$bin" daemon > daemon.log 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the daemon did not start:" >&2; cat daemon.log >&2; exit 1; }
threads=2
echo "$n contacts; $runs runs of ${secs}s; $conns connections, $threads wrk threads"

rates=(); total_ok=0; total_sent=0
for run in $(seq 1 "$runs"); do
  out=$(wrk -t "$threads" -c "$conns" -d "${secs}s" --latency -s walk.lua "http://127.0.0.1:$port" -- "$work/tokens-$run.txt" "$threads")
  rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  read -r sent ok bad wrapped < <(sed -n 's/^WALK sent=\([0-9]*\) ok=\([0-9]*\) bad=\([0-9]*\) wrapped=\([0-9]*\)$/\1 \2 \3 \4/p' <<<"$out")
  p99=$(awk '/^ +99%/ {print $2}' <<<"$out")
  echo "run $run: $rate requests/s (99th percentile latency ${p99:-?}), $ok answered 200, $bad other"
  [ "$bad" = 0 ] || { echo "run $run: $bad answers were not 200" >&2; echo "$out" >&2; exit 1; }
  [ "$wrapped" = 0 ] || { echo "run $run: the tokens ran out; raise N" >&2; exit 1; }
  rates+=("$rate"); total_ok=$((total_ok + ok)); total_sent=$((total_sent + sent))
done
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""

# Nothing lost: every 200 is an unsubscribed contact (a request cut off at the end of a
# run may have been carried out unanswered), one ledger event each.
python3 - "$db" "$total_ok" "$total_sent" <<'PY'
import json, sqlite3, sys
db, ok, sent = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
unsub = {r[0] for r in c.execute("SELECT contact_id FROM subscriptions WHERE list = 'newsletter' AND status = 'unsubscribed'")}
events = {}
for cid, body in c.execute("SELECT contact_id, body FROM ledger"):
    change = json.loads(body)["changes"].get("list.newsletter")
    if change and change[1] == "unsubscribed":
        events[cid] = events.get(cid, 0) + 1
twice = sum(1 for v in events.values() if v != 1)
assert ok <= len(unsub) <= sent, f"{len(unsub)} contacts unsubscribed for {ok} answered and {sent} sent"
assert set(events) == unsub and twice == 0, f"ledger: {len(events)} contacts with an event, {twice} with more than one"
print(f"checked: {len(unsub)} contacts unsubscribed ({ok} answered 200), one ledger event each")
PY
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: $(median "${rates[@]}") one-click unsubscribes/s (target >= 1000)"
