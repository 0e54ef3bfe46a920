# lib.sh: helpers for the command-level tests. Each test script sources it,
# gets a fresh spool in $T, and calls ok/fail; the summary line at the end
# is what automake's driver and CI read.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
SRC=$(cd "$top_srcdir" && pwd)
BLD=$(cd "$top_builddir" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/msgspool-test.XXXXXX")
PASSED=0
FAILED=0
PIDS=""
# ours PID: PID is still a child of this shell. With pid_max 32768 and
# eight tests at once, a PID that ended and was reaped is soon another
# process's, another test's shell among them: killing it by number made
# that test's own cleanup run in the middle of it (its $T gone).
ours() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	[ "$2" = "$$" ]
}
# kill_ours PID...: kills those that are still this shell's children.
kill_ours() {
	local p
	for p in "$@"; do ours "$p" && kill "$p" 2>/dev/null; done
	return 0
}
cleanup() {
	kill_ours $PIDS
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
export MSGSPOOL_CONFIG="$T/msgspool.yaml"
unset COLUMNS
cat > "$MSGSPOOL_CONFIG" <<CONF
spool: $T/spool
transport: maildir
from: "Devilry <noreply@example.org>"
maildir:
  path: $T/outbox
CONF
chmod 0640 "$MSGSPOOL_CONFIG"

ms() { "$BLD/msgspool" "$@"; }

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# check NAME GOT WANT
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi
}
# check_contains NAME HAYSTACK NEEDLE
check_contains() {
	case "$2" in *"$3"*) ok "$1" ;; *) fail "$1: [$(printf '%s' "$2" | tail -c 600)] does not contain [$3]" ;; esac
}
# check_rc NAME WANT CMD...: runs CMD, compares its exit code.
check_rc() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else fail "$name: exit $got, want $want; stderr: $(cat "$T/err")"; fi
}
count() { find "$T/spool/$1" -maxdepth 1 -name '*.yaml' | wc -l | tr -d ' '; }
py() { /usr/bin/python3 "$@"; }

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_smtpd NAME ARGS...: starts tests/smtpd.py on a free port, waits
# until it listens; sets PORT and OUT (where accepted mail lands).
start_smtpd() {
	local name=$1
	shift
	PORT=${SMTPD_PORT:-$(free_port)}
	OUT="$T/$name"
	mkdir -p "$OUT"
	rm -f "$T/$name.ready"
	/usr/bin/python3 "$SRC/tests/smtpd.py" --port "${SMTPD_PORT:-$PORT}" --out "$OUT" --ready "$T/$name.ready" "$@" \
		>"$T/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$name=$!"
	for _ in $(seq 100); do
		[ -f "$T/$name.ready" ] && return 0
		sleep 0.1
	done
	echo "smtpd $name did not start: $(cat "$T/$name.log")"
	return 1
}

# smtp_conf PORT [YAML lines for smtp:] [top-level YAML]: writes a config
# that sends over SMTP to 127.0.0.1:PORT.
smtp_conf() {
	cat > "$MSGSPOOL_CONFIG" <<CONF
spool: $T/spool
transport: smtp
from: "Devilry <noreply@example.org>"
subject_prefix: "[Devilry] "
resend_limit: ${LIMIT:-2}
${3:-}
smtp:
  host: ${HOST:-127.0.0.1}
  port: $1
  timeout: ${TIMEOUT:-3}
  helo: ${HELO:-client.test.example}
${2:-}
CONF
}

# enq ADDR [SUBJECT]: enqueues a small text receiver, prints its id.
enq() {
	printf 'Hello.\n' | ms enqueue --to "$1" --subject "${2:-Test}" --text-file -
}

# field ID KEY: a key of a receiver, via show --json.
field() {
	ms show --json "$1" | py -c 'import json,sys; d=json.load(sys.stdin); v=d.get(sys.argv[1]); print(len(v) if isinstance(v, list) else v)' "$2"
}
status_of() { field "$1" status; }
mails() { ls "$OUT"/*.eml 2>/dev/null | wc -l | tr -d ' '; }

# produce N ADDR_PREFIX: writes N receivers the producer's way (tmp/, then
# rename into new/), fast, without the msgspool command.
produce() {
	py - "$T/spool" "$1" "$2" <<'PY'
import os, sys, time
spool, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tag = "%d%06d" % (time.time(), os.getpid())
for i in range(n):
    name = "p%s-%05d.yaml" % (tag, i)
    tmp = os.path.join(spool, "tmp", name)
    with open(tmp, "w") as f:
        f.write("# produced by tests/lib.sh\nmsgspool: 1\nsend_to: %s%d@example.com\nsubject: Test %d\ntext: |\n  Body %d\n" % (prefix, i, i, i))
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(spool, "new", name))
PY
}

# plant DIR PREFIX N [DIR PREFIX N]...: N plain receivers, PREFIX0000 on,
# put in SPOOL/DIR by hand (no fsync, no tmp/), fast, for counts.
plant() {
	py - "$T/spool" "$@" <<'PY'
import os, sys
y = "msgspool: 1\nsend_to: a@example.org\nsubject: s\ntext: x\ncreated: \"2026-01-01T10:00:00Z\"\n"
a = sys.argv[2:]
for d, pre, n in zip(a[0::3], a[1::3], a[2::3]):
    for i in range(int(n)):
        open(os.path.join(sys.argv[1], d, "%s%04d.yaml" % (pre, i)), "w").write(y)
PY
}

# slots: the slots of smtp.rate taken since the last call and the most in
# one second, "N MOST": ratelimit.c writes each slot's time to
# $MSGSPOOL_TEST_RATELOG, which a test sets to $T/slots.
slots() {
	py - "$T/slots" <<'PY'
import collections, sys
t = [float(l) for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
per = collections.Counter(int(x) for x in t)
print("%d %d" % (len(t), max(per.values()) if t else 0))
PY
	rm -f "$T/slots"
}
# spread: the mails the server wrote into $OUT: seconds from the first to
# the last, and the most in one second, "SPAN MOST".
spread() {
	py - "$OUT" <<'PY'
import collections, os, sys
t = sorted(os.stat(os.path.join(sys.argv[1], f)).st_mtime_ns / 1e9 for f in os.listdir(sys.argv[1]) if f.endswith(".eml"))
per = collections.Counter(int(x) for x in t)
print("%.2f %d" % (t[-1] - t[0], max(per.values())) if t else "0 0")
PY
}

# first_flush: the directory of the first fsync in $T/st (strace -y's output).
first_flush() { grep -m1 -oE 'fsync\([0-9]+<[^>]*>' "$T/st" | sed 's|.*/||; s|>$||'; }

# wait_until SECONDS CMD...: polls CMD every 0.1 s; false if it never held.
wait_until() {
	local limit=$(( $1 * 10 )) i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.1
	done
}
received() { cat "$OUT"/*.eml 2>/dev/null | grep -c '^Message-ID:'; }
received_distinct() { cat "$OUT"/*.eml 2>/dev/null | grep '^Message-ID:' | sort -u | wc -l | tr -d ' '; }
count_is() { [ "$(count "$1")" = "$2" ]; }
count_at_least() { [ "$(count "$1")" -ge "$2" ]; }
received_is() { [ "$(received)" = "$1" ]; }

# start_daemon NAME: msgspoold in the foreground, log in $T/NAME.dlog.
start_daemon() {
	# Emptied here, not by the background redirection: that runs after the
	# fork, and a reused name's old "started:" line could satisfy the wait.
	: > "$T/$1.dlog"
	${DAEMON_WRAPPER:-} "$BLD/msgspoold" --foreground >> "$T/$1.dlog" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	wait_until "${START_WAIT:-10}" grep -q "started:" "$T/$1.dlog"
}
# stop_daemon [SECONDS]: SIGTERM to msgspoold ($DPID) and its exit status;
# one that has not ended SECONDS (30) later is killed and the test fails,
# instead of the run waiting for it for ever (a deadlock must not hang CI).
stop_daemon() {
	local rc guard
	kill -TERM "$DPID" 2>/dev/null
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "${1:-30}" &
		s=$!
		wait "$s"
		kill -KILL "$DPID" 2>/dev/null
	) &
	guard=$!
	wait "$DPID"
	rc=$?
	kill "$guard" 2>/dev/null
	wait "$guard" 2>/dev/null
	[ "$rc" -ne 137 ] || fail "msgspoold did not end within ${1:-30} s of SIGTERM: killed"
	return "$rc"
}
