#!/bin/bash
# wire-8bit: every message uses what the server of its session offers,
# the first one after a start or a SIGHUP included: 8bit text with MAIL
# ... BODY=8BITMIME where the server offers 8BITMIME, quoted-printable
# where it does not (man/msgspool-receiver.5, "Body"). Before, the first
# message of a transport was rendered before its EHLO and went
# quoted-printable.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd s || { fail "smtpd"; finish; exit 1; }
smtp_conf "$PORT"
ms init >/dev/null
norsk() { printf 'Hei på deg. Øvingen er levert.\n' | ms enqueue --to "$1" --subject "Øving" --text-file -; }
# cte ADDR: the text part's Content-Transfer-Encoding and the MAIL
# parameters of the message to ADDR.
cte() {
	local f
	f=$(grep -l "^To: $1" "$OUT"/*.eml | head -1)
	[ -n "$f" ] || { echo "none"; return; }
	echo "$(grep -i '^Content-Transfer-Encoding:' "$f" | head -1 | tr -d '\r') | $(sed -n 2p "${f%.eml}.helo")"
}

# --- msgspool send: a fresh transport, its first message ---
norsk first@example.com >/dev/null
norsk second@example.com >/dev/null
check_rc "send" 0 ms send
check "the first message goes 8bit" "$(cte first@)" "Content-Transfer-Encoding: 8bit | SIZE=$(wc -c < "$(grep -l '^To: first@' "$OUT"/*.eml)") BODY=8BITMIME"
check_contains "so does the second" "$(cte second@)" "Content-Transfer-Encoding: 8bit"

# --- msgspoold: the first message after the start and after a SIGHUP ---
smtp_conf "$PORT" "" "daemon: {user: root}"
start_daemon d || fail "msgspoold did not start: $(cat "$T/d.dlog")"
norsk dstart@example.com >/dev/null
wait_until 10 grep -q "^To: dstart@" "$OUT"/*.eml
check_contains "msgspoold's first message goes 8bit" "$(cte dstart@)" "Content-Transfer-Encoding: 8bit"
kill -HUP "$DPID"
sleep 1
norsk dhup@example.com >/dev/null
wait_until 10 grep -q "^To: dhup@" "$OUT"/*.eml
check_contains "the first after a SIGHUP goes 8bit" "$(cte dhup@)" "Content-Transfer-Encoding: 8bit"
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null

# --- a server without 8BITMIME: quoted-printable, sent at the first try ---
# (send's first message is rendered 8bit before its EHLO; the transport
# refuses it before MAIL with want_7bit set, and deliver.c sends the 7-bit
# rendering at once: without that it is deferred and the checks fail)
start_smtpd seven --no-8bitmime || { fail "smtpd"; finish; exit 1; }
smtp_conf "$PORT"
norsk seven@example.com >/dev/null
norsk seven2@example.com >/dev/null
check_rc "send to a server without 8BITMIME" 0 ms send
check "quoted-printable, no BODY=" "$(cte seven@)" "Content-Transfer-Encoding: quoted-printable | SIZE=$(wc -c < "$(grep -l '^To: seven@' "$OUT"/*.eml)")"
check_contains "so does the next" "$(cte seven2@)" "Content-Transfer-Encoding: quoted-printable"
check "both sent" "$(ms list --status sent 2>/dev/null | grep -c seven)" 2
finish
