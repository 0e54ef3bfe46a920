#!/bin/sh
# web-concurrent: msgspool-web serves other users while a resend waits on a
# slow mail server (each connection has its own thread; the resend lets go
# of the server's lock for its SMTP time), and many logins and page loads at
# once all succeed (the session, CSRF and lockout tables under one lock).
. "${top_srcdir:-.}/tests/lib.sh"
. "$SRC/tests/web-lib.sh"

# The server holds each reply to the message data until the pages below
# have answered (the file $T/release), at most HOLD seconds.
HOLD=50
start_smtpd slow --delay "$HOLD" --release "$T/release" || fail "smtpd did not start"
TIMEOUT=60 smtp_conf "$PORT"
ms init >/dev/null
web_users
# A hash slow enough (cost 10, tens of ms a check) that the parallel
# logins below overlap: each once counted as wrong until checked, and
# five side by side locked the address out for the rest.
htpasswd -bBc -C 10 "$T/web.htpasswd" "$WEB_USER" "$WEB_PASS" >/dev/null 2>&1
web_conf
ID=$(enq slow1@example.org "Slow")
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
web_login
csrf=$(web_csrf)

# ---- a resend to a slow server does not freeze the other pages ----
curl -s -b "$T/jar" --data "csrf=$csrf&id=$ID" "$WEB/receivers/resend" > "$T/resend.page" &
RESEND=$!
PIDS="$PIDS $RESEND"
wait_until 20 test -f "$T/spool/active/$ID.yaml" || fail "the resend did not claim the receiver"
check "during the resend: GET / answers" "$(code -b "$T/jar" --max-time 4 "$WEB/")" 200
check "during the resend: GET /receivers answers" "$(code -b "$T/jar" --max-time 4 "$WEB/receivers")" 200
tok=$(curl -s --max-time 4 -c "$T/jar2" -b "$T/jar2" "$WEB/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
check "during the resend: the login page answers" "${#tok}" 32
check "during the resend: a second user logs in" "$(code --max-time 4 -c "$T/jar2" -b "$T/jar2" --data-urlencode "csrf=$tok" \
	--data-urlencode "username=$WEB_USER" --data-urlencode "password=$WEB_PASS" "$WEB/login")" 303
check "during the resend: the second user's dashboard" "$(code -b "$T/jar2" --max-time 4 "$WEB/")" 200
# The assertion is "while": the resend must still be waiting on the server.
kill -0 "$RESEND" 2>/dev/null && ok "the resend is still running after those pages" \
	|| fail "the resend ended before the pages were asked (hold longer)"
check "the receiver is still claimed by the resend" "$(count active)" 1
touch "$T/release"
wait "$RESEND"
check "the resend finished" "$?" 0
check_contains "the resend's page: counts" "$(cat "$T/resend.page")" "1 sent, 0 failed, 0 moved to error."
check "the receiver is in sent/" "$(status_of "$ID")" sent
check "the server got it" "$(ls "$OUT"/*.tmp "$OUT"/*.eml 2>/dev/null | wc -l | tr -d ' ')" 1

# ---- many logins and page loads at once ----
N=8
PAR=
for i in $(seq $N); do
	(
		web_login "$T/pj$i"
		for p in / /receivers "/receivers/$ID" /api/receivers; do
			code -b "$T/pj$i" --max-time 30 "$WEB$p"
			echo
		done
		code -b "$T/pj$i" --max-time 30 --data "csrf=$(web_csrf "$T/pj$i")" "$WEB/logout"
		echo
	) > "$T/par$i" 2>&1 &
	PAR="$PAR $!"
done
for p in $PAR; do wait "$p"; done
check "parallel sessions: every answer as expected" "$(cat "$T"/par* | sort | uniq -c | tr -s ' ' | sed 's/^ //')" \
	"$((4 * N)) 200
$N 303"
tokens=$(for i in $(seq $N); do grep -h msgspool_session "$T/pj$i" | awk '{print $NF}'; done | sort -u | wc -l)
check "parallel sessions: each login its own session id" "$tokens" "$N"
check_contains "parallel sessions: each logged in" "$(grep -c 'admin logged in' "$T/web.log")" "$((N + 2))"
kill "$WEB_PID"; wait "$WEB_PID"
check "stopped cleanly by SIGTERM (sanitizers: no leak)" "$?" 0
check "no sanitizer report" "$(grep -c 'Sanitizer\|runtime error\|data race' "$T/web.log")" 0
finish
