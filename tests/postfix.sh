#!/bin/bash
# postfix: msgspool against a real MTA: a private Postfix instance on
# 127.0.0.1 (its own configuration and queue) that delivers example.com
# into a Maildir. What arrives is parsed by Python's email package; a
# recipient Postfix rejects is a recorded 5xx failure.
. "${top_srcdir:-.}/tests/lib.sh"
command -v postfix >/dev/null || { fail "postfix is not installed (tests/install-deps.sh installs it)"; finish; exit 1; }
[ "$(id -u)" = 0 ] || { echo "skipped: a private Postfix needs root"; exit 77; }

. "${top_srcdir:-.}/tests/postfix-instance.sh"
PF="$T/postfix"
chmod 755 "$T"
mkdir -p "$PF/mail"
chown nobody "$PF/mail"
PFPORT=$(free_port)
postfix_private "$PF" "127.0.0.1:$PFPORT" "myhostname = mx.test.localdomain
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = example.com
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 1
smtpd_tls_security_level = none
smtputf8_enable = no" > "$T/pfstart.log"
postfix -c "$PF/etc" start >> "$T/pfstart.log" 2>&1 || { fail "postfix did not start: $(tail -3 "$T/pfstart.log" "$PF/maillog" 2>/dev/null)"; finish; exit 1; }
trap 'postfix -c "$PF/etc" stop >/dev/null 2>&1; cleanup' EXIT
wait_until 10 py -c "import socket; socket.create_connection(('127.0.0.1', $PFPORT), 1)" || fail "postfix does not listen"

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
