#!/bin/bash
# pipeline: one round trip per message. With CHUNKING (RFC 3030) MAIL, RCPT
# and BDAT with the message go in one write; the scripted server's group
# log (tests/smtpd.py --groups) shows what arrived without it waiting on
# the network. Every reply decides its own receiver, each counted once,
# and what arrives is read by Python's email package.
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }
fails() { field "$1" sending_failed_count | sed s/None/0/; }
# parsed ADDR: the message that reached ADDR, as Python's email package reads it.
parsed() {
	local f
	f=$(grep -l "$1" "$OUT"/*.env | sed 's/\.env$/.eml/')
	py "$SRC/tests/parse_mail.py" "$f" | py -c 'import json,sys; d=json.load(sys.stdin); print(d["to"], d["defects"], d["parts"][0]["body"].strip())'
}
# groups: the groups of client input the server saw for messages, one a line.
groups() { grep -E 'MAIL|RCPT|data|BDAT|DATA|RSET' "$OUT/groups.log"; }

# --- CHUNKING: MAIL, RCPT, BDAT and the message arrive as one group ---
start_smtpd chunk --chunking --groups || exit 1
smtp_conf "$PORT" "  connections: 1"
a=$(enq one@example.com); b=$(enq two@example.com); c=$(enq three@example.com)
ms send > "$T/out" 2>/dev/null
check "chunked: all sent" "$(cat "$T/out")" "3 sent, 0 failed, 0 error, 0 quarantined"
check "chunked: one group per message" "$(groups)" "$(printf 'MAIL RCPT BDAT data\nMAIL RCPT BDAT data\nMAIL RCPT BDAT data')"
check "chunked: arrives whole (email package)" "$(parsed two@example.com)" "two@example.com [] Hello."
check "chunked: no dot-stuffing, no dot line" "$(grep -c '^\.' "$(grep -l one@ "$OUT"/*.env | sed 's/\.env$/.eml/')")" 0
check_contains "chunked: SIZE still on MAIL" "$(sed -n 2p "$(grep -l one@ "$OUT"/*.env | sed 's/\.env$/.helo/')")" "SIZE="

# --- a 550 to the second message's RCPT; a 451 to the next one's BDAT ---
rm -f "$OUT"/*
a=$(enq first@example.com); p=$(enq perm550@example.com); t=$(enq data451@example.com)
d=$(enq data554@example.com); l=$(enq last@example.com)
ms send > "$T/out" 2>/dev/null
check "refusals: summary" "$(cat "$T/out")" "2 sent, 3 failed, 0 error, 0 quarantined"
check "refusals: the first sent" "$(status_of "$a")" sent
check "refusals: 550 is the second's own" "$(status_of "$p") $(err "$p" error)" "failed 550 5.1.1 no such user here"
check "refusals: counted once" "$(fails "$p") $(fails "$t") $(fails "$d") $(fails "$a") $(fails "$l")" "1 1 1 0 0"
tp=$(err "$p" transcript)
check_contains "refusals: the BDAT's own reply read after the 550" "$tp" "<<< 554 5.5.1 Error: no valid recipients"
check_contains "refusals: then RSET" "$tp" ">>> RSET"
check "refusals: 451 to BDAT is temporary" "$(status_of "$t") $(err "$t" smtp_code)" "failed 451"
check "refusals: 554 to BDAT" "$(err "$d" smtp_code)" 554
check "refusals: the last sent on the same connection" "$(status_of "$l")" sent
check "refusals: only the two good ones arrived" "$(mails)" 2
check "refusals: one connection" "$(grep -c '^EHLO' "$OUT/groups.log")" 1
check "refusals: the last arrives whole" "$(parsed last@example.com)" "last@example.com [] Hello."

# --- a 421 at RCPT, and a connection dropped after the message ---
rm -f "$OUT"/*
q=$(enq bye421@example.com); x=$(enq drop@example.com); y=$(enq after@example.com)
ms send > "$T/out" 2>/dev/null
check "421: temporary, its own" "$(status_of "$q") $(err "$q" smtp_code) $(fails "$q")" "failed 421 1"
check "dropped after the message: temporary, counted once" "$(status_of "$x") $(fails "$x")" "failed 1"
check "after both: sent on a new connection" "$(status_of "$y") $(fails "$y")" "sent 0"
check "after both: arrives whole" "$(parsed after@example.com)" "after@example.com [] Hello."

# --- smtp.chunking: false: DATA as before, two groups a message ---
rm -f "$OUT"/*
smtp_conf "$PORT" "  connections: 1
  chunking: false"
a=$(enq nochunk@example.com)
ms send >/dev/null 2>&1
check "chunking off: DATA" "$(groups)" "$(printf 'MAIL RCPT DATA\ndata .')"
check "chunking off: arrives whole" "$(parsed nochunk@example.com)" "nochunk@example.com [] Hello."

# --- a server without PIPELINING: one command at a time, no BDAT ---
start_smtpd plain --groups || exit 1
smtp_conf "$PORT" "  connections: 1"
a=$(enq p1@example.com); p=$(enq perm550@example.com); b=$(enq p2@example.com)
ms send > "$T/out" 2>/dev/null
check "no PIPELINING: summary" "$(cat "$T/out")" "2 sent, 1 failed, 0 error, 0 quarantined"
check "no PIPELINING: one command a round trip" "$(groups | head -4)" "$(printf 'MAIL\nRCPT\nDATA\ndata .')"
check "no PIPELINING: 550 its own" "$(status_of "$p") $(fails "$p")" "failed 1"
check "no PIPELINING: after it, sent" "$(status_of "$b")" sent
finish
