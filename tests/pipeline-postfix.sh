#!/bin/bash
# pipeline-postfix: CHUNKING against a real MTA. A private Postfix (its own
# configuration and queue) on 127.0.0.1 offers CHUNKING: msgspool sends
# MAIL, RCPT and BDAT with the message in one write; a recipient Postfix
# refuses is refused by its own reply, the BDAT's reply is read after it,
# then RSET, and the next message goes on the same connection. What
# arrives is read by Python's email package.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/postfix-instance.sh"
postfix_mx_setup
postfix_mx_conf example.com "smtputf8_enable = no"
postfix_mx_start
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }

smtp_conf "$PFPORT" "  connections: 1"
ms init >/dev/null
a=$(enq first@example.com); rej=$(enq someone@not-ours.example.net); b=$(enq second@example.com)
ms send >/dev/null 2>&1
check "both sent through Postfix" "$(status_of "$a") $(status_of "$b")" "sent sent"
check "relay refused: failed, counted once" "$(status_of "$rej") $(field "$rej" sending_failed_count)" "failed 1"
check_contains "Postfix's refusal is the RCPT's" "$(err "$rej" error)" "554 5.7.1"
tr=$(err "$rej" transcript)
# MAIL, RCPT, BDAT and the message all written before the first reply.
check "MAIL, RCPT, BDAT and the message in one write" "$(awk '/^>>> MAIL/ {on = 1} on && /^<<< / {exit} on {print $2}' <<< "$tr" | tr '\n' ' ')" "MAIL RCPT BDAT (message, "
check "no DATA" "$(grep -c '^>>> DATA' <<< "$tr")" 0
check_contains "the BDAT's own reply read after the refusal" "$tr" "<<< 554 5.5.1 Error: no valid recipients"
check_contains "then RSET" "$tr" ">>> RSET"
mails_in() { ls "$PF/mail/inbox/new" 2>/dev/null | wc -l; }
wait_until 30 test "$(mails_in)" = 2 2>/dev/null
check "both delivered into the Maildir" "$(mails_in)" 2
f=$(grep -l "second@example.com" "$PF"/mail/inbox/new/* | head -1)
py "$SRC/tests/parse_mail.py" "$f" | py -c 'import json,sys; d=json.load(sys.stdin); print(d["to"], d["defects"], d["parts"][0]["body"].strip())' > "$T/m.txt"
check "arrives whole after BDAT (email package)" "$(cat "$T/m.txt")" "second@example.com [] Hello."
finish
