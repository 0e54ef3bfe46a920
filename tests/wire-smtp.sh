#!/bin/bash
# wire-smtp: what msgspool says to SMTP servers that differ, checked at
# scripted aiosmtpd servers: SMTPUTF8 on and off (MAIL parameters asserted),
# SIZE, replies to pipelined commands that are 421 or not SMTP, and a
# pooled connection the server closed while it was idle.
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }
opts_of() { sed -n 2p "$(grep -l "$1" "$OUT"/*.env | sed 's/\.env$/.helo/')"; }

# --- SMTPUTF8 offered: a UTF-8 local part goes with SMTPUTF8 and BODY=8BITMIME ---
start_smtpd utf8 --smtputf8 || exit 1
smtp_conf "$PORT"
u=$(enq "jørn@example.com"); a=$(enq ascii@example.com)
ms send >/dev/null 2>&1
check "UTF-8 local part sent with SMTPUTF8" "$(status_of "$u")" sent
check "MAIL parameters with SMTPUTF8" "$(opts_of jørn@)" "SIZE=$(wc -c < "$(grep -l jørn@ "$OUT"/*.env | sed 's/\.env$/.eml/')") SMTPUTF8 BODY=8BITMIME"
check "ASCII: SIZE only" "$(opts_of ascii@ | cut -d= -f1)" "SIZE"
f=$(grep -l "jørn@" "$OUT"/*.env | sed 's/\.env$/.eml/')
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
check "To keeps the UTF-8 local part (RFC 6532)" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["to"], d["defects"])' "$T/m.json")" "jørn@example.com []"
# An IDN domain: the envelope in A-labels always; the header shows the
# U-label only in a message that goes with SMTPUTF8 (a UTF-8 local part).
iu=$(enq "jørn@bücher.example"); ia=$(enq "ascii@bücher.example")
ms send >/dev/null 2>&1
check "UTF-8 local part, IDN domain: sent" "$(status_of "$iu")" sent
eml_to() { f=$(grep -l "$1" "$OUT"/*.env | sed 's/\.env$/.eml/'); py "$SRC/tests/parse_mail.py" "$f" | py -c 'import json,sys; d=json.load(sys.stdin); print(d["to"], d["defects"])'; }
check "the envelope has the A-label" "$(grep -c 'jørn@xn--bcher-kva.example' "$OUT"/*.env | grep -vc ':0')" 1
check "with SMTPUTF8 the To shows the U-label" "$(eml_to 'jørn@xn--bcher-kva')" "jørn@bücher.example []"
check "without SMTPUTF8 the To has the A-label" "$(eml_to 'ascii@xn--bcher-kva')" "ascii@xn--bcher-kva.example []"

# --- SMTPUTF8 not offered: error/ at once, counted once, never retried ---
start_smtpd plain || exit 1
smtp_conf "$PORT"
u=$(enq "jørn@example.com")
ms send >/dev/null 2>&1
check "no SMTPUTF8: error/ at once" "$(status_of "$u")" error
check "says why" "$(err "$u" error)" "the server does not offer SMTPUTF8, needed for <jørn@example.com>"
check "counted once" "$(field "$u" sending_failed_count)" 1
check "nothing arrived" "$(mails)" 0

# --- SIZE: larger than the server's limit is refused before DATA ---
start_smtpd small --size 2000 || exit 1
smtp_conf "$PORT"
head -c 3000 /dev/zero | tr '\0' 'x' > "$T/big.txt"
b=$(ms enqueue --to big@example.com --subject s --text-file "$T/big.txt")
ms send >/dev/null 2>&1
check "over SIZE: error/ at once" "$(status_of "$b")" error
check_contains "the server's limit in the reason" "$(err "$b" error)" "more than the server's limit of 2000 (SIZE)"
check "no MAIL sent for it" "$(grep -c '^>>> MAIL' <<< "$(err "$b" transcript)")" 0

# --- what the server said, also to pipelined commands and after the data ---
start_smtpd pipe --pipelining || exit 1
smtp_conf "$PORT"
g=$(enq garbage@example.com); q=$(enq bye421@example.com); d=$(enq dataglitch@example.com)
ms send >/dev/null 2>&1
check_contains "pipelined: not SMTP, said" "$(err "$g" error)" "the server's reply is not SMTP: hello, this is not SMTP"
check "pipelined: 421 recorded with its code" "$(err "$q" smtp_code) $(err "$q" error)" "421 421 4.3.2 shutting down"
check_contains "after the data: not SMTP, said" "$(err "$d" error)" "the server's reply is not SMTP: hello, this is not SMTP either"

# --- Message-ID: made at the first attempt, recorded, the same at every retry ---
start_smtpd mid || exit 1
LIMIT=5 smtp_conf "$PORT"
t=$(enq temp451@example.com)
ms send >/dev/null 2>&1
m1=$(field "$t" message_id)
[[ "$m1" =~ ^\<[0-9]{8}T[0-9]{6}Z\.[0-9a-f]{24}\.1@example\.org\>$ ]] && ok "Message-ID recorded at the first attempt ($m1)" || fail "Message-ID recorded: [$m1]"
ms resend-failed >/dev/null 2>&1
check "failed twice" "$(field "$t" sending_failed_count)" 2
check "the same Message-ID at the retry" "$(field "$t" message_id)" "$m1"
check_contains "and on the wire" "$(err "$t" transcript)" "failed"
# A crash after the server's 250 and before the record: the copy sent again
# carries the Message-ID of the first, so the reader can tell it is one.
start_smtpd crashdup || exit 1
smtp_conf "$PORT"
c=$(enq crashdup@example.com)
MSGSPOOL_TEST_STOP=deliver-after-250 ms send >/dev/null 2>&1
check "killed after the 250" "$(received)" 1
ms send >/dev/null 2>&1
check "sent again after the crash" "$(received)" 2
check "the duplicate carries the first one's Message-ID" "$(received_distinct)" 1
check "and it is the one recorded" "$(grep -h '^Message-ID:' "$OUT"/*.eml | head -1 | tr -d '\r')" "Message-ID: $(field "$c" message_id)"

# --- a pooled connection closed while idle: sent again, uncounted ---
start_smtpd closer --close-after 1 || exit 1
smtp_conf "$PORT" "  connections: 1" "daemon: {user: root, idle_close: 600, rescan_interval: 1}"
start_daemon pool || fail "msgspoold did not start"
x1=$(enq first@example.com)
wait_until 10 test "$(status_of "$x1")" = sent
sleep 1 # the server closes the pooled connection meanwhile
x2=$(enq second@example.com)
wait_until 10 test "$(status_of "$x2")" = sent
check "first sent" "$(status_of "$x1")" sent
check "second sent on a new connection" "$(status_of "$x2")" sent
check "second not counted as failed" "$(field "$x2" sending_failed_count | sed s/None/0/)" 0
check_contains "the daemon says it sent again" "$(cat "$T/pool.dlog")" "outcome=sent"
finish
