#!/bin/bash
# daemon-schedule: send_after (the daemon wakes for it, no polling) and
# expires_at (error/ "expired at ...", also on a retry), priority (high
# before normal before low in a backlog), set by enqueue's options.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd main || exit 1
LIMIT=10 smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 60\n  retry_failed_after: 1\n')"
ms init >/dev/null
rfc() { date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ; }
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }
body() { printf 'Hello.\n' > "$T/body"; echo "$T/body"; }

check_rc "enqueue --send-after not a time: exit 65" 65 ms enqueue --to a@example.com --subject s --text-file "$(body)" --send-after tomorrow
check_contains "says which key" "$(cat "$T/err")" "send_after: 'tomorrow' is not an RFC 3339 time"
check_rc "enqueue --priority urgent: exit 65" 65 ms enqueue --to a@example.com --subject s --text-file "$(body)" --priority urgent
check_contains "says which values" "$(cat "$T/err")" "priority: 'urgent' is not high, normal or low"

start_daemon s1 || { fail "daemon did not start: $(cat "$T/s1.dlog")"; finish; exit 1; }
# --- send_after: nothing before it, then sent without a rescan ---
after=$(rfc 4)
later=$(ms enqueue --to later@example.com --subject s --text-file "$(body)" --send-after "$after")
check "send_after kept in the file" "$(field "$later" send_after)" "$after"
sleep 1.5
check "send_after: not sent before its time" "$(status_of "$later"):$(mails)" "not_sent:0"
wait_until 10 test -f "$T/spool/sent/$later.yaml" && ok "send_after: sent once due (rescans are 60 s apart)" ||
	fail "send_after: not sent: $(ls "$T/spool/new")"
sent=$(field "$later" sent_at)
[ "$(date -d "$sent" +%s)" -ge "$(date -d "$after" +%s)" ] && ok "send_after: sent at $sent, not before $after" ||
	fail "sent at $sent, before $after"
check "send_after: looked at once before its time, no polling" "$(grep -c "$later: send_after" "$T/s1.dlog")" 1

# --- expires_at: passed -> error/ with the reason, never sent ---
rm -f "$OUT"/*
gone=$(ms enqueue --to gone@example.com --subject s --text-file "$(body)" --expires-at "$(rfc -5)")
wait_until 10 test -f "$T/spool/error/$gone.yaml" && ok "expired: in error/" || fail "expired: $(status_of "$gone")"
check_contains "expired: the reason" "$(err "$gone" error)" "expired at "
check "expired: never sent" "$(mails)" 0
# --- expires_at on a retry: a receiver failing with 451 until it expires ---
retry=$(ms enqueue --to temp451-x@example.com --subject s --text-file "$(body)" --expires-at "$(rfc 3)")
wait_until 20 test -f "$T/spool/error/$retry.yaml" && ok "expired on a retry: in error/" || fail "retry: $(status_of "$retry")"
check_contains "expired on a retry: the reason" "$(err "$retry" error)" "expired at "
[ "$(field "$retry" sending_failed_count)" -ge 2 ] && ok "expired on a retry: after failed attempts" ||
	fail "failed count $(field "$retry" sending_failed_count)"
kill -TERM $DPID; wait $DPID

# --- priority: in a backlog high goes before normal before low ---
start_smtpd slow --delay 0.2 || exit 1
smtp_conf "$PORT" "  connections: 1" "$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 60\n')"
rm -f "$T"/spool/*/*.yaml
py - "$T/spool" <<'PY'
import os, sys
spool = sys.argv[1]
for i in range(5):
    for p in ("low", "normal", "high"):
        name = "%s%d.yaml" % (p, i)
        with open(os.path.join(spool, "tmp", name), "w") as f:
            f.write("msgspool: 1\nsend_to: %s%d@example.com\nsubject: s\ntext: x\npriority: %s\n" % (p, i, p))
        os.rename(os.path.join(spool, "tmp", name), os.path.join(spool, "new", name))
PY
order() { for f in $(ls "$OUT"/*.eml | sort -V); do sed -n 's/^To: \([a-z]*\)[0-9]*@.*/\1/p' "$f" | tr -d '\r'; done | tr '\n' ' '; }
start_daemon s2 || fail "s2 did not start"
wait_until 30 count_is sent 15 && ok "priority: all 15 sent" || fail "priority: sent $(count sent)"
got=$(order)
# The first may be taken before the others are queued; after it, strictly by level.
rest=$(echo "$got" | cut -d' ' -f2-)
check "priority: high, then normal, then low (after the first)" "$(echo "$rest" | py -c '
import sys
w = sys.stdin.read().split(); lv = {"high": 0, "normal": 1, "low": 2}
print(all(lv[a] <= lv[b] for a, b in zip(w, w[1:])))')" "True"
echo "# order of arrival: $got"
# A burst of low does not delay a new high by more than one message per connection.
rm -f "$OUT"/* "$T"/spool/*/*.yaml
py - "$T/spool" <<'PY'
import os, sys
spool = sys.argv[1]
for i in range(20):
    name = "burst%02d.yaml" % i
    with open(os.path.join(spool, "tmp", name), "w") as f:
        f.write("msgspool: 1\nsend_to: low%d@example.com\nsubject: s\ntext: x\npriority: low\n" % i)
    os.rename(os.path.join(spool, "tmp", name), os.path.join(spool, "new", name))
PY
two_sent() { [ "$(mails)" -ge 2 ]; }
wait_until 10 two_sent || fail "the burst did not start: $(tail -5 "$T/s2.dlog")"
ms enqueue --to high@example.com --subject s --text-file "$(body)" --priority high >/dev/null
before=$(mails) # sent by the time the high one is in new/ (one more is in flight)
wait_until 30 count_is sent 21 && ok "burst: all sent" || fail "burst: sent $(count sent)"
pos=$(i=0; for f in $(ls "$OUT"/*.eml | sort -V); do i=$((i + 1)); grep -q '^To: high@' "$f" && echo $i; done)
[ "$pos" -le $((before + 2)) ] && ok "burst: the high one went out within one message per connection ($pos after $before)" ||
	fail "burst: the high one was number $pos, enqueued after $before"
kill -TERM $DPID; wait $DPID

# --- smtp.rate: 200 at 50/second over 4 connections ---
start_smtpd rate || exit 1
smtp_conf "$PORT" "$(printf '  connections: 4\n  rate: ["50/second", "100000/day"]')" \
	"$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 60\n')"
sed 's|50/second|50/fortnight|' "$MSGSPOOL_CONFIG" > "$T/badrate.yaml"
check_rc "smtp.rate: a bad limit is refused" 78 timeout 10 "$BLD/msgspoold" --foreground -c "$T/badrate.yaml"
check_contains "smtp.rate: says which" "$(cat "$T/err")" "smtp.rate: '50/fortnight' is not N/second, N/minute, N/hour or N/day"
rm -f "$T"/spool/*/*.yaml
produce 200 rate
# The limiter's own decisions too (each slot's time): exact, where the
# server's arrival times also hold each send's time after its slot.
export MSGSPOOL_TEST_RATELOG="$T/slots"
start_daemon r1 || fail "r1 did not start"
wait_until 60 count_is sent 200 && ok "smtp.rate: all 200 sent" || fail "rate: sent $(count sent)"
read span most <<<"$(spread)"
echo "# 200 at 50/second: ${span} s from the first to the last, at most $most in one second"
py -c "import sys; sys.exit(0 if float('$span') >= 3.5 else 1)" && ok "smtp.rate: 200 at 50/second took ${span} s (>= 3.5)" ||
	fail "smtp.rate: 200 took only ${span} s"
[ "$most" -le 50 ] && ok "smtp.rate: no second held more than 50 ($most)" || fail "smtp.rate: $most in one second"
read taken smost <<<"$(slots)"
unset MSGSPOOL_TEST_RATELOG
check "smtp.rate: one slot per message" "$taken" 200
[ "$smost" -le 50 ] && ok "smtp.rate: no second gave more than 50 slots ($smost)" || fail "smtp.rate: $smost slots in one second"
check "smtp.rate: nothing counted as failed" "$(count failed)$(count error)" "00"
check_contains "stats: the day's usage" "$(ms stats)" "of 100000 today"
check_contains "stats: the day's count" "$(ms stats)" "200 of 100000 today"
kill -TERM $DPID; wait $DPID
produce 1 after-restart
start_daemon r2 || fail "r2 did not start"
wait_until 10 count_is sent 201 || fail "after restart: not sent"
kill -TERM $DPID; wait $DPID
check_contains "smtp.rate: the day's count survives a restart" "$(ms stats)" "201 of 100000 today"

# --- smtp.rate: a claim that fails spends no slot ---
# A receiver another process holds locked is found busy at every rescan;
# each look took a slot of the day's 2, and the two good ones behind it
# waited for the next day.
rm -rf "$T/spool"; ms init >/dev/null 2>&1
smtp_conf "$PORT" "$(printf '  connections: 1\n  rate: ["2/day"]')" \
	"$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 1\n')"
printf 'msgspool: 1\nsend_to: locked@example.com\nsubject: s\ntext: x\n' > "$T/spool/tmp/locked.yaml"
mv "$T/spool/tmp/locked.yaml" "$T/spool/new/0locked.yaml"
flock -x "$T/spool/new/0locked.yaml" sleep 30 &
LOCKER=$!
PIDS="$PIDS $LOCKER"
start_daemon r3 || fail "r3 did not start"
sleep 3 # three rescans find it busy
produce 2 good
wait_until 10 count_is sent 2 && ok "smtp.rate: a busy receiver spends no slot (both good ones sent)" ||
	fail "smtp.rate: sent $(count sent) of 2 behind a busy one: $(ms stats | grep today)"
check "smtp.rate: the busy one waits where it was" "$(ls "$T/spool/new")" "0locked.yaml"
kill -TERM $DPID; wait $DPID
kill $LOCKER 2>/dev/null

finish
