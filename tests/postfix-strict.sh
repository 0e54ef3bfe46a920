#!/bin/bash
# postfix-strict: msgspool against a Postfix as strict as Postfix gets
# (reject_non_fqdn_helo_hostname, strict_rfc821_envelopes,
# smtpd_forbid_bare_newline, strict_8bitmime, strict_mime_encoding_domain,
# a small message_size_limit), with SMTPUTF8 off and then on: every example
# receiver, an IDN domain, a UTF-8 local part, a message over the limit and
# a HELO name the server refuses, each result asserted.
. "${top_srcdir:-.}/tests/lib.sh"
. "${top_srcdir:-.}/tests/postfix-instance.sh"
postfix_mx_setup
strict() {
	postfix_mx_conf "example.com, xn--bcher-kva.example" "smtpd_helo_required = yes
smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, check_helo_access inline:{ refused.test.example=REJECT }
strict_rfc821_envelopes = yes
smtpd_forbid_bare_newline = yes
strict_8bitmime = $2
strict_mime_encoding_domain = yes
message_size_limit = 20000
smtputf8_enable = $1"
}
strict no yes
postfix_mx_start
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }
mails_in() { ls "$PF/mail/inbox/new" 2>/dev/null | wc -l; }

smtp_conf "$PFPORT"
ms init >/dev/null
n=0
for f in "$SRC"/spool-layout/examples/valid/*.yaml; do ms enqueue - < "$f" >/dev/null && n=$((n + 1)); done
i=$(enq "idn@bücher.example" "Øving – «viktig» 日本語の件名 $(printf 'x%.0s' $(seq 120))")
u=$(enq "jørn@example.com")
head -c 30000 /dev/zero | tr '\0' 'x' | fold -w 70 > "$T/big.txt"
b=$(ms enqueue --to big@example.com --subject big --text-file "$T/big.txt")
ms send >/dev/null 2>&1
check "every example receiver sent" "$(count sent)" "$((n + 1))"
check "IDN domain sent" "$(status_of "$i")" sent
check "UTF-8 local part, no SMTPUTF8: error/" "$(status_of "$u")" error
check "says why" "$(err "$u" error)" "the server does not offer SMTPUTF8, needed for <jørn@example.com>"
check "over message_size_limit: error/" "$(status_of "$b")" error
check_contains "the server's limit in the reason" "$(err "$b" error)" "more than the server's limit of 20000 (SIZE)"
wait_until 30 test "$(mails_in)" -ge "$((n + 1))"
check "delivered" "$(mails_in)" "$((n + 1))"
check "Postfix rejected nothing it got" "$(grep -c ' reject: ' "$PF/maillog")" 0
f=$(grep -l "idn@xn--bcher-kva.example" "$PF"/mail/inbox/new/* | head -1)
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
check "IDN subject decoded, no defects" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["subject"] == "[Devilry] Øving – «viktig» 日本語の件名 " + "x" * 120, d["defects"], d["max_line"] <= 999)' "$T/m.json")" "True [] True"

# A HELO name the server refuses (at RCPT, as Postfix does): not counted.
h=$(enq helo@example.com)
HELO=refused.test.example smtp_conf "$PFPORT"
ms send >/dev/null 2>&1
check "refused HELO: left in new/" "$(status_of "$h")" not_sent
check "refused HELO: not counted" "$(field "$h" sending_failed_count | sed s/None/0/)" 0
smtp_conf "$PFPORT"

# SMTPUTF8 on: the UTF-8 local part goes, with its address in the To
# header as RFC 6532 allows (8-bit: Postfix 3.7's strict_8bitmime refuses
# any 8-bit header, SMTPUTF8 or not, so it is off here).
postfix_mx_stop
strict yes no
postfix_mx_start
u2=$(enq "jørn@example.com")
ms send >/dev/null 2>&1
check "UTF-8 local part with SMTPUTF8: sent" "$(status_of "$u2")" sent
wait_until 30 grep -rlq "jørn@example.com" "$PF/mail/inbox/new"
check_contains "Postfix took it with SMTPUTF8" "$(grep 'jørn' "$PF/maillog" | head -3)" "jørn@example.com"
finish
