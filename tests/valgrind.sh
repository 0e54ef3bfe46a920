#!/bin/bash
# valgrind: msgspoold through a burst and a fault scenario (temporary and
# permanent failures, a dropped connection, a quarantined file, the server
# going away, SIGHUP, SIGTERM), and msgspool send, under valgrind's
# memcheck: no leaks, no errors. The ASan build runs its own leak checker
# instead, so there this test is skipped (exit 77).
. "${top_srcdir:-.}/tests/lib.sh"
# valgrind's own lines about openat2 (syscall 437, which it does not know:
# the spool then falls back to openat) are not findings.
vg_clean() {
	grep -v -e '^==[0-9]*== *$' -e 'unhandled amd64-linux syscall: 437' -e 'write your own handler' \
		-e 'README_MISSING_SYSCALL_OR_IOCTL' -e 'Nevertheless we consider this a bug' \
		-e 'valgrind.org/support/bug_reports' "$1" | head -20
}
if [ "${MSGSPOOL_SANITIZED:-}" = yes ]; then
	echo "skipped: sanitizer build (LeakSanitizer covers it)"
	exit 77
fi
command -v valgrind >/dev/null || { fail "valgrind is not installed"; finish; exit 1; }
VG="valgrind --suppressions=$SRC/tests/valgrind.supp --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no"

# The daemon's server offers PIPELINING, the one-pass command's does not:
# both ways of sending run under memcheck. It answers 5 ms late, so that
# the daemon holds replies (smtp.c: only where a round trip is worth it)
# and a reply held across a dropped connection runs under memcheck too.
start_smtpd main --pipelining --rtt 0.005 || exit 1
smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 2\n  retry_failed_after: 1')"
ms init >/dev/null
# valgrind runs one thread at a time: the daemon's workers start slowly on a
# busy machine.
START_WAIT=120 DAEMON_WRAPPER="$VG --log-file=$T/vg-daemon.log" start_daemon vg ||
	{ fail "daemon under valgrind did not start: $(tail -5 "$T/vg.dlog" "$T/vg-daemon.log")"; finish; exit 1; }
produce 40 ok
produce 3 temp451-
produce 2 perm550-
produce 2 drop
echo "not: [yaml" > "$T/spool/tmp/bad.yaml"; touch -d '1 minute ago' "$T/spool/tmp/bad.yaml"; mv "$T/spool/tmp/bad.yaml" "$T/spool/new/"
wait_until 60 count_is sent 40 || fail "burst under valgrind: sent=$(count sent)"
wait_until 30 count_is error 7 || fail "retries under valgrind: error=$(count error) failed=$(count failed)"
kill -HUP $DPID
wait_until 30 grep -q "SIGHUP: configuration re-read" "$T/vg.dlog" || fail "SIGHUP under valgrind: not logged"
kill "$PID_main"; wait "$PID_main" 2>/dev/null
produce 2 away
wait_until 30 grep -q "mail server unusable" "$T/vg.dlog" || fail "server away under valgrind: not noticed"
SMTPD_PORT=$PORT start_smtpd main --pipelining --rtt 0.005 || fail "server did not come back"
wait_until 60 count_is sent 42 || fail "after the outage: sent=$(count sent)"
kill -TERM $DPID; wait $DPID; rc=$?
check "daemon under valgrind: exit 0 (99 = errors or leaks)" "$rc" 0
check "daemon: valgrind log clean" "$(vg_clean "$T/vg-daemon.log")" ""
check "quarantined under valgrind" "$(count corrupt)" 1

# The one-pass command, with a failure, a render error and a TLS refusal.
start_smtpd step || exit 1
smtp_conf "$PORT"
rm -f "$T"/spool/*/*.yaml
produce 5 ok
produce 1 temp451-
printf 'msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\nheaders: {Bcc: b@example.com}\n' | ms enqueue - >/dev/null
$VG --log-file="$T/vg-send.log" "$BLD/msgspool" send >/dev/null 2>&1; rc=$?
check "send under valgrind: exit 75 (one receiver failed)" "$rc" 75
check "send: valgrind log clean" "$(vg_clean "$T/vg-send.log")" ""
$VG --log-file="$T/vg-list.log" "$BLD/msgspool" list --json >/dev/null 2>&1; rc=$?
check "list --json under valgrind: exit 0" "$rc" 0
smtp_conf "$PORT" "  tls: starttls"
enq x@example.com >/dev/null
$VG --log-file="$T/vg-tls.log" "$BLD/msgspool" send >/dev/null 2>&1; rc=$?
check "send, STARTTLS refused, under valgrind: exit 75" "$rc" 75
check "tls: valgrind log clean" "$(vg_clean "$T/vg-tls.log")" ""
finish
