#!/bin/bash
# send-rate: msgspool send and resend keep smtp.rate, counted together with
# msgspoold's in the spool's counts (SPOOL/rate, under one lock): a cron
# send never exceeds the smarthost's limit, alone or beside the daemon.
# What waits is not counted as failed; a terminal says it is waiting; a
# full hour or day leaves the rest in new/ for the next run instead of
# waiting for it; a receiver scheduled for later takes no slot. Against tests/smtpd.py on 127.0.0.1; the arrival times
# are the server's files' times.
. "${top_srcdir:-.}/tests/lib.sh"
start_smtpd rate || exit 1
DAEMON=$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 60\n')
ms init >/dev/null

# The per-second ceiling is checked on the limiter's own decisions: each
# slot's time (MSGSPOOL_TEST_RATELOG), one per message that arrived. A
# server's arrival times also hold the time each send takes after its slot
# (a claim's fsyncs, the session), which a loaded machine stretches and
# squeezes, so the server's figure is printed but bounds only the span.
export MSGSPOOL_TEST_RATELOG="$T/slots"
# (slots and spread are lib.sh's.)
at_least() { py -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$1" "$2"; }
# paced NAME N LIMIT MIN_SPAN: N messages at LIMIT/second: what the server
# saw (the span, bounded below) and the limiter's slots (one per message,
# at most LIMIT in any second).
paced() {
	local name=$1 n=$2 limit=$3 min=$4 span most taken smost
	read span most <<<"$(spread)"
	echo "# $name of $n at $limit/second: ${span} s from the first to the last, at most $most in one second"
	at_least "$span" "$min" && ok "$name: $n at $limit/second took ${span} s (>= $min)" || fail "$name: $n took only ${span} s"
	read taken smost <<<"$(slots)"
	check "$name: one slot of smtp.rate per message" "$taken" "$(ls "$OUT"/*.eml | wc -l)"
	[ "$smost" -le "$limit" ] && ok "$name: no second gave more than $limit slots ($smost; the server saw at most $most)" ||
		fail "$name: $smost slots in one second"
}

# --- send alone: 30 at 10/second ---
smtp_conf "$PORT" '  rate: ["10/second", "1000/day"]' "$DAEMON"
produce 30 alone
check_rc "send: 30 at 10/second" 0 ms send
check "send: all 30 sent" "$(cat "$T/out"):$(count sent)" "30 sent, 0 failed, 0 error, 0 quarantined:30"
paced send 30 10 2.5
check "send: nothing waiting was counted as failed" "$(count failed)$(count error)" "00"
check_contains "send counts in the spool's counts (stats)" "$(ms stats)" "30 of 1000 today"

# --- resend by filter: 15 at 10/second ---
rm -f "$OUT"/*.eml
check_rc "resend --status sent: 30 at 10/second" 0 ms resend --yes --status sent
paced resend 30 10 2.5
check_contains "resend counts too (stats)" "$(ms stats)" "60 of 1000 today"

# --- a terminal shows that it waits ---
# At 1/second a pass of 3 waits whatever the machine's speed (at 10/second
# it waited only while the resend's slots above were still in the window).
smtp_conf "$PORT" '  rate: ["1/second", "1000/day"]' "$DAEMON"
produce 3 tty
script -qfec "'$BLD/msgspool' send" /dev/null > "$T/tty" 2>&1
check_contains "send on a terminal says it waits for smtp.rate" "$(cat "$T/tty")" "waiting for smtp.rate"
check "send on a terminal: all 3 sent" "$(count new)" 0
set -- $(ls "$T/spool/sent" | grep '^p' | head -3 | sed 's/\.yaml$//')
script -qfec "'$BLD/msgspool' resend $1 $2 $3" /dev/null > "$T/tty" 2>&1
check_contains "resend on a terminal says which of how many waits" "$(cat "$T/tty")" "sending 2/3 (waiting for smtp.rate)"
# what a terminal shows: each line from its last erase on
shown=$(py -c 'import sys; print("\n".join(l.rstrip("\r").split("\x1b[K")[-1] for l in open(sys.argv[1], newline="").read().split("\n") if l.strip()))' "$T/tty")
check "resend on a terminal: its lines are whole" "$shown" "$(printf '%s: sent\n' "$1" "$2" "$3")"

# --- the daemon and a send at once: 60 at 10/second between them ---
smtp_conf "$PORT" '  rate: ["10/second", "1000/day"]' "$DAEMON"
rm -f "$OUT"/*.eml "$T/slots"
produce 60 both
ms send > "$T/both.out" 2>&1 &
SPID=$!
start_daemon d1 || fail "the daemon did not start: $(cat "$T/d1.dlog")"
wait $SPID
wait_until 30 count_is sent 93 && ok "daemon and send: all 60 sent" || fail "daemon and send: new/ has $(count new)"
kill -TERM $DPID; wait $DPID
by_send=$(sed -n 's/^\([0-9]*\) sent.*/\1/p' "$T/both.out")
echo "# send sent ${by_send:-?} of 60, the daemon the rest"
[ "${by_send:-0}" -gt 0 ] && [ "${by_send:-0}" -lt 60 ] && ok "daemon and send: both sent ($by_send by send)" ||
	fail "daemon and send: send sent ${by_send:-?} of 60: $(cat "$T/both.out")"
read span most <<<"$(spread)"
echo "# daemon and send, 60 at 10/second: ${span} s, at most $most in one second"
at_least "$span" 5.5 && ok "daemon and send: 60 at 10/second took ${span} s (>= 5.5)" || fail "daemon and send: 60 took only ${span} s"
read taken smost <<<"$(slots)"
# Two senders racing for one receiver: each claims it before its slot, so
# the loser of a race takes none (a slot taken first was the loser's,
# wasted: 75-85 for 60 messages).
arrived=$(ls "$OUT"/*.eml | wc -l)
echo "# daemon and send: $taken slots for $arrived messages"
check "daemon and send: one slot of smtp.rate per message, none for a lost race" "$taken" "$arrived"
[ "$smost" -le 10 ] && ok "daemon and send: no second together gave more than 10 slots ($smost; the server saw at most $most)" || fail "daemon and send: $smost slots in one second"
check "daemon and send: nothing counted as failed" "$(count failed)$(count error)" "00"

# --- a full day: the rest is left in new/ for the next run, not waited for ---
rm -f "$T/spool/rate"
smtp_conf "$PORT" '  rate: ["3/day"]' "$DAEMON"
# two scheduled for later come first (ids in order) and take no slot
for i in 1 2; do printf 'Hi\n' | ms enqueue --to later$i@example.com --subject S --text-file - --send-after 2099-01-01T00:00:00Z >/dev/null; done
produce 5 day
check_rc "send with 3/day and 5 to send: exit 75, the rest left" 75 timeout 30 "$BLD/msgspool" send
check "send with 3/day: 3 sent, 2 and the 2 scheduled still in new/" "$(cat "$T/out"):$(count new)" "3 sent, 0 failed, 0 error, 0 quarantined:4"
check_contains "send with 3/day: says why the rest waits" "$(cat "$T/err")" "smtp.rate 3/day is used up"
left=$(ls "$T/spool/new" | grep '^p' | head -1); left=${left%.yaml}
[ -n "$left" ] && check "send with 3/day: a receiver left waits in new/, not counted as failed" \
	"$(status_of "$left"):$(ms show --json "$left" | py -c 'import json,sys; print(json.load(sys.stdin).get("sending_failed_count") or 0)')" "not_sent:0" ||
	fail "send with 3/day: nothing left in new/"
# cron runs send --quiet every minute: a day used up before the pass began
# is said by the pass that used it up, not again every minute
check_rc "send --quiet, the day used up before it began: exit 75" 75 ms send --quiet
check "send --quiet, the day used up before it began: prints nothing" "$(cat "$T/out" "$T/err")" ""
check_rc "send without --quiet says it again" 75 ms send
check_contains "send without --quiet: why" "$(cat "$T/err")" "smtp.rate 3/day is used up"

# --- a file still being written is put back unread and spends no slot ---
rm -f "$T/spool/rate" "$OUT"/*.eml "$T"/spool/new/*.yaml
smtp_conf "$PORT" '  rate: ["3/day"]' "$DAEMON"
py - "$T/spool/new/a-inplace.yaml" "$T/inplace-open" <<'PY' &
import sys, time
with open(sys.argv[1], "w") as f:   # in place, kept open: first in id order
    f.write("msgspool: 1\nsend_to: inplace@example.com\nsubject: s\ntext: |\n  first half\n")
    f.flush()
    open(sys.argv[2], "w").close()
    time.sleep(60)
PY
WRITER=$!
wait_until 10 test -f "$T/inplace-open" || fail "the in-place writer did not start"
produce 3 unread
timeout 30 "$BLD/msgspool" send >"$T/out" 2>"$T/err"
check "send with 3/day beside a file still being written: the 3 others sent" "$(ls "$OUT"/*.eml 2>/dev/null | wc -l)" 3
check_contains "and the one being written put back for later" "$(cat "$T/err")" "a-inplace.yaml: still being written"
kill "$WRITER" 2>/dev/null; wait "$WRITER" 2>/dev/null
rm -f "$T"/spool/new/a-inplace.yaml

# --- msgspool-web's resend takes the same slots: 6 at 2/second, then a used-up hour ---
. "$SRC/tests/web-lib.sh"
rm -f "$T/spool/rate" "$OUT"/*.eml "$T"/spool/new/*.yaml "$T/slots"
smtp_conf "$PORT" '  rate: ["2/second"]' "$DAEMON"
web_users
web_conf
produce 6 web
wlist=$(ls "$T/spool/new" | sed 's/\.yaml$//')
wids=$(echo $wlist | py -c 'import json,sys; print(json.dumps({"ids": sys.stdin.read().split()}))')
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
check "web resend of 6 at 2/second: all sent" \
	"$(curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data "$wids" "$WEB/api/resend" | py -c 'import json,sys; print(json.load(sys.stdin)["sent"])')" 6
paced "web resend" 6 2 1.8
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
rm -f "$T/spool/rate" "$OUT"/*.eml
sed -i 's|rate: \["2/second"\]|rate: ["1/hour"]|' "$MSGSPOOL_CONFIG"
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
web_login
csrf=$(web_csrf)
set -- $wlist
curl -s -b "$T/jar" --data "csrf=$csrf&id=$1&id=$2&id=$3" "$WEB/receivers/resend" > "$T/page"
check "web resend with 1/hour: one arrived" "$(ls "$OUT"/*.eml 2>/dev/null | wc -l)" 1
check_contains "web resend with 1/hour: the page says the rest waits" "$(cat "$T/page")" "2 not sent: smtp.rate 1/hour is used up"
check "web resend with 1/hour: the rest left where they were, no second resend recorded" \
	"$(status_of "$3"):$(ms show --json "$3" | py -c 'import json,sys; print(len(json.load(sys.stdin).get("events") or []))')" "sent:1"
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null

# The web's resend racing the daemon for the same receivers of new/ at
# 10/second: a receiver the daemon claimed first takes no slot of the web's
# (it waits for room with the receiver unclaimed, records its event, claims
# it, and only then counts the slot).
rm -f "$T/spool/rate" "$OUT"/*.eml "$T"/spool/*/*.yaml "$T/slots"
sed -i 's|rate: \["1/hour"\]|rate: ["10/second"]|' "$MSGSPOOL_CONFIG"
produce 40 wrace
wids=$(ls "$T/spool/new" | sed 's/\.yaml$//' | py -c 'import json,sys; print(json.dumps({"ids": sys.stdin.read().split()}))')
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
start_daemon wr || fail "the daemon did not start: $(cat "$T/wr.dlog")"
curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data "$wids" "$WEB/api/resend" > "$T/wr.json"
all_out() { count_is new 0 && count_is active 0; }
wait_until 30 all_out || fail "web resend and daemon: $(count new) left in new/, $(count active) in active/"
stop_daemon
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
read taken smost <<<"$(slots)"
arrived=$(ls "$OUT"/*.eml | wc -l)
echo "# web resend and daemon: $taken slots for $arrived messages (the web: $(cat "$T/wr.json"))"
check "web resend and daemon: one slot of smtp.rate per message, none for a lost race" "$taken" "$arrived"
[ "$smost" -le 10 ] && ok "web resend and daemon: no second gave more than 10 slots ($smost)" || fail "web resend and daemon: $smost slots in one second"

finish
