#!/bin/bash
# conns: msgspoold's connection count adapts within smtp.connections
# {min, max}: it starts at min, grows while a backlog waits behind a slow
# server (seen by the server's side: sessions open at once), comes back to
# min when idle; a single number keeps a fixed count; a server that refuses
# one more session makes it fall back to those that work.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd slow --delay 0.2 --pipelining || exit 1
conns_conf() { # CONNECTIONS
	smtp_conf "$PORT" "  connections: $1" "$(printf 'daemon:\n  user: root\n  idle_close: 2\n  rescan_interval: 60\n')"
}
# sessions: established TCP connections to the server's port right now.
sessions() { ss -Htn state established "( dport = :$PORT )" | wc -l; }
no_sessions() { [ "$(sessions)" = 0 ]; }
sent_is() { [ "$(count sent)" = "$1" ]; }
# most_sessions SECONDS: the most sessions seen at once, sampled for SECONDS
# or until the spool's new/ and active/ are empty.
most_sessions() {
	local top=0 n i
	for i in $(seq $(( $1 * 20 ))); do
		n=$(sessions)
		[ "$n" -gt "$top" ] && top=$n
		[ "$(count new)" = 0 ] && [ "$(count active)" = 0 ] && break
		sleep 0.05
	done
	echo "$top"
}

conns_conf "{min: 1, max: 6}"
ms init >/dev/null
start_daemon d1 || { fail "daemon did not start: $(cat "$T/d1.dlog")"; finish; exit 1; }
check_contains "starts at min" "$(grep started: "$T/d1.dlog")" "connections: 1"
produce 80 grow
top=$(most_sessions 60)
wait_until 30 sent_is 80 || fail "not all sent: $(count sent) in sent/"
check "all 80 sent, each once" "$(count sent)/$(mails)" "80/80"
check "none failed" "$(count failed)" 0
[ "$top" -gt 1 ] && ok "the server saw more than one session at once ($top)" || fail "the server saw at most $top session"
[ "$top" -le 6 ] && ok "never more than max ($top <= 6)" || fail "$top sessions at once, max is 6"
grown=$(sed -n 's/.*connections: [0-9]* -> \([0-9]*\) (.* waiting.*/\1/p' "$T/d1.dlog" | sort -n | tail -1)
[ "${grown:-0}" -gt 1 ] && ok "growth logged (to $grown)" || fail "no growth logged: $(grep connections "$T/d1.dlog")"
wait_until 10 grep -q "connections: back to 1 (idle)" "$T/d1.dlog" && ok "back to min when idle" || fail "no shrink logged: $(tail -3 "$T/d1.dlog")"
wait_until 10 no_sessions && ok "idle connections closed" || fail "$(sessions) sessions still open"
stop_daemon

# A whole number: that many, never more, never fewer while busy.
rm -f "$OUT"/*
conns_conf 2
start_daemon d2 || { fail "daemon did not start: $(cat "$T/d2.dlog")"; finish; exit 1; }
check_contains "fixed count at start" "$(grep started: "$T/d2.dlog")" "connections: 2"
produce 40 fixed
top=$(most_sessions 60)
wait_until 30 sent_is 120 || fail "not all sent"
check "fixed: all 40 sent" "$(mails)" 40
check "fixed: 2 sessions at most" "$top" 2
check "fixed: never changed" "$(grep -c 'connections: [0-9]* -> ' "$T/d2.dlog")" 0
stop_daemon

# A server that takes three sessions at once and answers a fourth with 421:
# the count falls back to the connections that work, without the daemon-wide
# backoff of a server that is away, and every receiver goes once.
start_smtpd limited --delay 0.2 --pipelining --max-sessions 3 || exit 1
conns_conf "{min: 1, max: 8}"
start_daemon d3 || { fail "daemon did not start: $(cat "$T/d3.dlog")"; finish; exit 1; }
produce 60 lim
wait_until 60 sent_is 180 || fail "not all sent: $(count sent) in sent/, $(count new) in new/"
check "limited server: all 60 arrived, each once" "$(mails)" 60
check "limited server: none failed" "$(count failed)" 0
check_contains "limited server: the refusal lowered the count" "$(cat "$T/d3.dlog")" "(the server refused one more; growing again in"
check "limited server: no daemon-wide backoff" "$(grep -c 'mail server unusable' "$T/d3.dlog")" 0
stop_daemon
# SIGHUP applies a new smtp.connections: a higher range opens more sessions
# while a backlog waits, a lower one closes those above it once their
# attempt is done; the log and stats say so, and every receiver goes once.
start_smtpd hup --delay 0.2 --pipelining || exit 1
conns_conf "{min: 1, max: 2}"
start_daemon d4 || { fail "daemon did not start: $(cat "$T/d4.dlog")"; finish; exit 1; }
before=$(count sent)
produce 160 hup
range_is() { ms stats --json | py -c 'import json,sys; c=json.load(sys.stdin)["daemon"]["connections"]; sys.exit((c["min"], c["max"]) != (int(sys.argv[1]), int(sys.argv[2])))' "$1" "$2"; }
more_than() { [ "$(sessions)" -gt "$1" ]; }
at_most() { [ "$(sessions)" -le "$1" ]; }
wait_until 10 more_than 0 || fail "no session before the SIGHUP"
top=$(most_sessions 1)
[ "$top" -le 2 ] && ok "at most 2 sessions before the SIGHUP ($top)" || fail "$top sessions with max 2"
conns_conf "{min: 3, max: 6}"
kill -HUP "$DPID"
wait_until 5 grep -q "SIGHUP: connections {1, 2} -> {3, 6}" "$T/d4.dlog" && ok "the raise is logged" ||
	fail "no raise logged: $(grep SIGHUP "$T/d4.dlog")"
wait_until 10 more_than 2 && ok "more than 2 sessions after the raise ($(sessions))" ||
	fail "still $(sessions) sessions after the raise, $(count new) waiting"
wait_until 5 range_is 3 6 && ok "stats shows the new range 3..6" || fail "stats: $(ms stats --json)"
conns_conf 1
kill -HUP "$DPID"
wait_until 5 grep -q "SIGHUP: connections {3, 6} -> {1, 1}" "$T/d4.dlog" && ok "the drop is logged" ||
	fail "no drop logged: $(grep SIGHUP "$T/d4.dlog")"
[ "$(count new)" -gt 0 ] || fail "the backlog ran out before the drop: the test proves nothing"
wait_until 10 at_most 1 && ok "down to 1 session after the drop" || fail "still $(sessions) sessions after the drop"
wait_until 5 range_is 1 1 && ok "stats shows the new range 1..1" || fail "stats: $(ms stats --json)"
top=$(most_sessions 2)
[ "$top" -le 1 ] && ok "stays at 1 session ($top)" || fail "$top sessions after the drop to 1"
wait_until 60 sent_is $((before + 160)) || fail "not all sent: $(count sent) in sent/, $(count new) in new/"
check "SIGHUP: all 160 arrived, each once" "$(mails)/$(received_distinct)" "160/160"
check "SIGHUP: all 160 in sent/" "$(count sent)" $((before + 160))
check "SIGHUP: none failed or left" "$(count failed)/$(count active)/$(count new)" "0/0/0"
stop_daemon
finish
