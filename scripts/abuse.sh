#!/usr/bin/env bash
# The standing check of issue 12, point 7: replays the floods the attacker-style probe
# used against a running `herald daemon` and asserts that /healthz answers throughout and
# that the daemon's memory stays bounded. Not part of CI's default path (it takes about
# a minute and opens thousands of sockets).
#
# Loopback only: the daemon is started here, on 127.0.0.1 with port 0, in a scratch
# workspace that is removed afterwards, and every connection goes to that address.
# Bounded: each flood has a fixed count and holds for at most HOLD seconds; the whole run
# is capped by `timeout`.
#
# Usage: scripts/abuse.sh            (builds target/debug/herald if missing)
#   HERALD_BIN=target/release/herald scripts/abuse.sh
# Limits asserted (MB; override with the variables): MAX_HWM_MB=250 (peak resident
# memory, VmHWM), MAX_RSS_AFTER_MB=150 (resident memory 5 s after the last flood).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${HERALD_BIN:-target/debug/herald}"
[ -x "$BIN" ] || cargo build --bin herald
MAX_HWM_MB="${MAX_HWM_MB:-250}"
MAX_RSS_AFTER_MB="${MAX_RSS_AFTER_MB:-150}"
HOLD="${HOLD:-12}"

WS="$(mktemp -d)"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$WS"
}
trap cleanup EXIT

"$BIN" init "$WS" >/dev/null
cd "$WS"
# The probe's conditions: a 1 024 file-descriptor limit, the bounce listener on, and
# no DNS. Keys are generated into the scratch workspace.
# (The soft limit only, and only for the daemon: the flooding client needs more.)
BIN_ABS="$(cd "$OLDPWD" && realpath "$BIN")"
(ulimit -S -n 1024 && HERALD_BOUNCES__LISTEN='"127.0.0.1:0"' HERALD_DNS__CHECK_DOMAINS=false HERALD_LOG=warn \
  exec "$BIN_ABS" --json daemon --listen 127.0.0.1:0 >daemon.out 2>daemon.log) &
DAEMON_PID=$!
for _ in $(seq 1 100); do [ -s daemon.out ] && break; sleep 0.1; done
[ -s daemon.out ] || { echo "abuse.sh: the daemon did not start"; cat daemon.log; exit 1; }
WEB=$(python3 -c 'import json,sys; print(json.load(open("daemon.out"))["listening"].split("//")[1])')
MX=$(python3 -c 'import json,sys; print(json.load(open("daemon.out"))["bounces"].split("//")[1])')
case "$WEB$MX" in 127.0.0.1:*127.0.0.1:*) ;; *) echo "abuse.sh: not on loopback: $WEB $MX"; exit 1 ;; esac
echo "daemon $DAEMON_PID: http://$WEB, smtp://$MX (fd limit 1024)"

timeout 600 python3 - "$WEB" "$MX" "$DAEMON_PID" "$HOLD" "$MAX_HWM_MB" "$MAX_RSS_AFTER_MB" <<'PY'
import asyncio, sys, time

web, mx, pid, hold, max_hwm, max_rss_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
def split(a):
    h, p = a.rsplit(":", 1)
    assert h == "127.0.0.1", a
    return h, int(p)
WEB, MX = split(web), split(mx)

def memory():
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                fields[k] = int(v.split()[0]) // 1024
    import os
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return fields

async def healthz():
    start = time.monotonic()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(*WEB), 2)
        w.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        line = await asyncio.wait_for(r.readline(), 2)
        w.close()
        return line.startswith(b"HTTP/1.1 200"), time.monotonic() - start
    except Exception:
        return False, time.monotonic() - start

async def watch(stop, out):
    while not stop.is_set():
        out.append(await healthz())
        await asyncio.sleep(0.25)

async def connect(addr, n, first=b""):
    conns, failed = [], 0
    for i in range(0, n, 100):
        batch = await asyncio.gather(*(asyncio.open_connection(*addr) for _ in range(min(100, n - i))), return_exceptions=True)
        for c in batch:
            if isinstance(c, Exception):
                failed += 1
            else:
                if first:
                    c[1].write(first)
                conns.append(c)
    return conns, failed

async def still_open(conns):
    """Connections the daemon has not closed (a greeting or a refusal is read past)."""
    async def one(c):
        try:
            while True:
                if await asyncio.wait_for(c[0].read(4096), 0.2) == b"":
                    return False
        except asyncio.TimeoutError:
            return True
        except Exception:
            return False
    return sum(await asyncio.gather(*(one(c) for c in conns)))

async def send_message(size):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(*MX), 5)
        async def cmd(line):
            if line:
                w.write(line + b"\r\n")
            while True:
                reply = await asyncio.wait_for(r.readline(), 60)
                if reply[3:4] != b"-":
                    return int(reply[:3] or b"0")
        if await cmd(b"") != 220:
            return "refused"
        await cmd(b"EHLO flood.example")
        await cmd(b"MAIL FROM:<>")
        await cmd(b"RCPT TO:<bounces+1.x@bounces.acme.example>")
        code = await cmd(b"DATA")
        if code != 354:
            w.close()
            return str(code)
        w.write(b"Subject: flood\r\n\r\n")
        line = b"x" * 998 + b"\r\n"
        for _ in range(size // len(line)):
            w.write(line)
            await w.drain()
        code = await cmd(b".")
        w.close()
        return str(code)
    except Exception as e:
        return type(e).__name__

failures = []
async def phase(name, flood):
    stop, checks = asyncio.Event(), []
    watcher = asyncio.create_task(watch(stop, checks))
    t0 = time.monotonic()
    detail = await flood()
    stop.set()
    await watcher
    ok = sum(1 for c in checks if c[0])
    worst = max((c[1] for c in checks), default=0)
    m = memory()
    print(f"{name:<38} {time.monotonic()-t0:5.1f}s  healthz {ok}/{len(checks)} ok, slowest {worst*1000:.0f} ms  "
          f"VmRSS {m['VmRSS']} MB VmHWM {m['VmHWM']} MB fds {m['fds']}  {detail}")
    if ok != len(checks) or not checks:
        failures.append(f"{name}: /healthz failed {len(checks)-ok} of {len(checks)} times")

def held(addr, n, first=b""):
    async def flood():
        conns, failed = await connect(addr, n, first)
        await asyncio.sleep(1)
        during = memory()
        await asyncio.sleep(hold - 1)
        alive = await still_open(conns)
        for _, w in conns:
            w.close()
        return (f"opened {len(conns)} (failed {failed}); daemon fds 1 s in: {during['fds']}; "
                f"still open after {hold:.0f}s: {alive}")
    return flood

def messages(n, size):
    async def flood():
        codes = await asyncio.gather(*(send_message(size) for _ in range(n)))
        summary = {}
        for c in codes:
            summary[c] = summary.get(c, 0) + 1
        return f"{n} x {size // 1048576} MB messages at once, replies {summary}"
    return flood

async def main():
    print(f"before: {memory()}")
    await phase("HTTP: 500 half-sent requests", held(WEB, 500, b"GET /healthz HTTP/1.1\r\nhost: x\r\n"))
    await phase("HTTP: 3000 idle connections", held(WEB, 3000))
    await phase("HTTP: 1100 idle (fd limit 1024)", held(WEB, 1100))
    await phase("SMTP: 1050 idle connections", held(MX, 1050))
    await phase("SMTP: 50 concurrent 10 MB messages", messages(50, 10 * 1024 * 1024))
    # Again: what a message took is reused or returned, not added to.
    await phase("SMTP: the same again", messages(50, 10 * 1024 * 1024))
    await asyncio.sleep(5)
    m = memory()
    ok, latency = await healthz()
    print(f"after 5 s: VmRSS {m['VmRSS']} MB, VmHWM {m['VmHWM']} MB, fds {m['fds']}, healthz {'ok' if ok else 'FAILED'} in {latency*1000:.0f} ms")
    if not ok:
        failures.append("/healthz failed after the floods")
    if m["VmHWM"] > max_hwm:
        failures.append(f"peak memory {m['VmHWM']} MB is above {max_hwm} MB")
    if m["VmRSS"] > max_rss_after:
        failures.append(f"memory after the floods {m['VmRSS']} MB is above {max_rss_after} MB")

asyncio.run(main())
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"ok: /healthz answered throughout; peak memory under {max_hwm} MB, after under {max_rss_after} MB")
PY
