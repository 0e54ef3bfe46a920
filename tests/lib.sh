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
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
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
	case "$2" in *"$3"*) ok "$1" ;; *) fail "$1: [$2] does not contain [$3]" ;; esac
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
