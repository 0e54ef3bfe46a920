#!/bin/bash
# postfix: msgspool against a real MTA: a private Postfix instance on
# 127.0.0.1 (its own configuration and queue) that delivers example.com
# into a Maildir. What arrives is parsed by Python's email package; a
# recipient Postfix rejects is a recorded 5xx failure.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/postfix-instance.sh"
postfix_mx_setup
postfix_mx_conf example.com "smtputf8_enable = no"
postfix_mx_start

smtp_conf "$PFPORT"
ms init >/dev/null
id=$(ms enqueue - < "$SRC/spool-layout/examples/valid/deadline-nb.yaml")
sed 's/bob@example.com/bob@example.com/' "$SRC/spool-layout/examples/valid/both-bodies.yaml" | ms enqueue - >/dev/null
rej=$(enq someone@not-ours.example.net)
ms send >/dev/null 2>&1
check "sent through Postfix" "$(count sent)" 2
check "relay refused: failed" "$(status_of "$rej")" failed
check_contains "Postfix's 5xx recorded" "$(ms show --json "$rej" | py -c 'import json,sys; print(json.load(sys.stdin)["errors"][-1]["error"])')" "554"
mails_in() { ls "$PF/mail/inbox/new" 2>/dev/null | wc -l; }
wait_until 30 test "$(mails_in)" = 2 2>/dev/null
check "delivered into the Maildir" "$(mails_in)" 2
f=$(grep -l "april@example.com" "$PF"/mail/inbox/new/* | head -1)
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
j() { py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/m.json" "$1"; }
check "subject decoded after Postfix" "$(j 'd["subject"]')" "[Devilry] Frist flyttet for Øving 3 – «viktig»"
check "no defects after Postfix" "$(j 'd["defects"]')" "[]"
check "both parts after Postfix" "$(j '[p["type"] for p in d["parts"]]')" "['text/plain', 'text/html']"
check_contains "html intact after Postfix" "$(j 'd["parts"][1]["body"]')" "<b>Øving 3</b>"
check_contains "Postfix added its Received header" "$(grep -A1 -m1 "^Received:" "$f")" "by mx.test.localdomain"
check "message-id kept, as recorded" "$(j 'd["message_id"]')" "$(field "$id" message_id)"
finish
