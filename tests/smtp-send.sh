#!/bin/bash
# smtp-send: one delivery attempt end to end against a scripted aiosmtpd on
# 127.0.0.1: what arrives (parsed by Python's email package), reply codes
# and the status rules of Devilry, send/resend/resend-failed and their output.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd main || exit 1
smtp_conf "$PORT"
ms init >/dev/null

# --- what arrives ---
id=$(ms enqueue - < "$SRC/spool-layout/examples/valid/deadline-nb.yaml")
id2=$(ms enqueue - < "$SRC/spool-layout/examples/valid/both-bodies.yaml")
check_rc "send" 0 ms send
check "send summary" "$(cat "$T/out")" "2 sent, 0 failed, 0 error, 0 quarantined"
check "two messages arrived" "$(mails)" 2
check "status sent" "$(status_of "$id")" sent
check "success count" "$(field "$id" sending_success_count)" 1
[ -n "$(field "$id" sent_at)" ] && ok "sent_at set" || fail "sent_at not set"

f=$(grep -l "april@example.com" "$OUT"/*.env | sed 's/\.env$/.eml/')
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
j() { py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/m.json" "$1"; }
check "subject decoded" "$(j 'd["subject"]')" "[Devilry] Frist flyttet for Øving 3 – «viktig»"
check "no defects" "$(j 'd["defects"]')" "[]"
# The server offers 8BITMIME: the first message of a session goes 8bit too
# (tests/wire-8bit.sh); 7 bits only where the server does not offer it.
check "8-bit on the wire (8BITMIME offered)" "$(j 'd["eight_bit"]')" "True"
check "lines within 998" "$(j 'd["max_line"] <= 998')" "True"
check "multipart/alternative" "$(j 'd["content_type"]')" "multipart/alternative"
check "parts" "$(j '[p["type"] for p in d["parts"]]')" "['text/plain', 'text/html']"
check "html intact" "$(j 'd["parts"][1]["body"].replace("\r\n","\n")')" "$(py -c 'import sys,yaml' 2>/dev/null; sed -n '/^html: |/,/^metadata:/p' "$SRC/spool-layout/examples/valid/deadline-nb.yaml" | sed '1d;$d' | sed 's/^  //')"
check_contains "text derived from html" "$(j 'd["parts"][0]["body"]')" "* Spør om hjelp"
check_contains "link kept in text" "$(j 'd["parts"][0]["body"]')" "oppgaven <https://devilry.example.org/a/42>"
check "from" "$(j 'd["from"]')" "Devilry <noreply@example.org>"
check "message-id is ours, as recorded" "$(j 'd["message_id"]')" "$(field "$id" message_id)"
check "envelope" "$(cat "${f%.eml}.env")" "$(printf 'noreply@example.org\napril@example.com')"

f=$(grep -l "bob@example.com" "$OUT"/*.env | sed 's/\.env$/.eml/')
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
check "file's from wins" "$(j 'd["from"]')" "Devilry <noreply@devilry.example.org>"
check "reply-to" "$(j 'd["reply_to"]')" "teacher@example.org"
check "extra X- header" "$(j 'd["headers"].get("X-Devilry-Course")')" "inf1000"
check "given text kept" "$(j 'd["parts"][0]["body"].replace("\r\n","\n")')" "$(printf 'A new comment was added to your delivery.\n\n-- \nDevilry\n')"

# A text-only receiver is a single part; a long UTF-8 subject still decodes.
long="Frist flyttet for Øving 3 – «viktig» og ganske lang tittel som må brettes over flere linjer æøå ÆØÅ"
lid=$(printf 'Linje én\n' | ms enqueue --to single@example.com --subject "$long" --text-file -)
ms send >/dev/null
f=$(grep -l "single@example.com" "$OUT"/*.env | sed 's/\.env$/.eml/')
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
check "single part" "$(j 'd["content_type"]')" "text/plain"
check "long subject decoded" "$(j 'd["subject"]')" "[Devilry] $long"
check "long subject: no defects" "$(j 'd["defects"]')" "[]"

# --- failures and Devilry's counting rule (resend_limit 2) ---
t1=$(enq temp451@example.com)
p1=$(enq perm550@example.com)
d1=$(enq drop@example.com)
c1=$(enq data554@example.com)
before=$(mails)
check_rc "send with failures exits 75 (cron mails it)" 75 ms send
check "summary" "$(cat "$T/out")" "0 sent, 4 failed, 0 error, 0 quarantined"
check "nothing more arrived" "$(mails)" "$before"
for x in $t1 $p1 $d1 $c1; do
	check "failed: $x" "$(status_of "$x")" failed
	check "count 1: $x" "$(field "$x" sending_failed_count)" 1
	check "one error: $x" "$(field "$x" errors)" 1
done
err() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e[sys.argv[1]])' "$2"; }
check "451 recorded" "$(err "$t1" error)" "451 4.3.0 try again later"
check "451 code" "$(err "$t1" smtp_code)" 451
check "550 recorded" "$(err "$p1" error)" "550 5.1.1 no such user here"
check "554 after data" "$(err "$c1" smtp_code)" 554
check "drop: no code" "$(err "$d1" smtp_code)" None
check_contains "drop: says so" "$(err "$d1" error)" "no reply"
tr=$(err "$t1" transcript)
check_contains "transcript has RCPT" "$tr" ">>> RCPT TO:<temp451@example.com>"
check_contains "transcript has reply" "$tr" "<<< 451 4.3.0 try again later"
check_contains "show prints transcript" "$(ms show "$t1")" "<<< 451 4.3.0 try again later"

# Three failures append three errors; count equal to the limit then a
# failure goes to error/.
ms resend "$t1" >/dev/null
check "second failure: count 2" "$(field "$t1" sending_failed_count)" 2
check "still failed at the limit" "$(status_of "$t1")" failed
ms resend "$t1" >/dev/null
check "third failure: count 3" "$(field "$t1" sending_failed_count)" 3
check "three errors" "$(field "$t1" errors)" 3
check "over the limit: error" "$(status_of "$t1")" error
check "last_attempt says error" "$(ms show --json "$t1" | py -c 'import json,sys; print(json.load(sys.stdin)["last_attempt"]["outcome"])')" error

# A count already above the limit fails straight into error/.
cat > "$T/over.yaml" <<Y
msgspool: 1
send_to: temp451@example.com
subject: over
text: x
sending_failed_count: 7
Y
o1=$(ms enqueue - < "$T/over.yaml")
ms send >/dev/null
check "count above limit -> error" "$(status_of "$o1")" error
check "count 8" "$(field "$o1" sending_failed_count)" 8

# Three sends: success count 3.
s1=$(enq ok3@example.com)
ms send >/dev/null
ms resend "$s1" >/dev/null
ms resend "${s1:0:36}" >/dev/null
check "three sends" "$(field "$s1" sending_success_count)" 3
check "still sent" "$(status_of "$s1")" sent

# resend of an error receiver by hand works whatever its status.
check_rc "resend error receiver" 75 ms resend "$p1"
check "resend result line" "$(cat "$T/out")" "$p1: failed"

# --- resend-failed: Devilry's output, counts, limits ---
rm -f "$T"/spool/*/*.yaml
check_rc "resend-failed, none" 0 ms resend-failed
check "none: output" "$(cat "$T/out")" "$(printf '0 messages were automatically resent.\n0 messages has exceeded the retry limit (current limit: 2)')"
mk_failed() { # ADDR COUNT -> a receiver in failed/ with that count
	local id
	id=$(printf 'msgspool: 1\nsend_to: %s\nsubject: s\ntext: x\nsending_failed_count: %s\n' "$1" "$2" | ms enqueue -)
	mv "$T/spool/new/$id.yaml" "$T/spool/failed/"
	echo "$id"
}
f1=$(mk_failed ok@example.com 1)
check_rc "resend-failed, one" 0 ms resend-failed
check "one: output" "$(head -1 "$T/out")" "1 messages were automatically resent."
check "one: now sent" "$(status_of "$f1")" sent
a=$(mk_failed ok@example.com 1); b=$(mk_failed temp451@example.com 2); c=$(mk_failed ok@example.com 2)
x=$(mk_failed ok@example.com 3); y=$(mk_failed ok@example.com 5)
e=$(printf 'msgspool: 1\nsend_to: ok@example.com\nsubject: s\ntext: x\nsending_failed_count: 1\n' | ms enqueue -)
mv "$T/spool/new/$e.yaml" "$T/spool/error/"
check_rc "resend-failed, several and over the limit (one fails again: 75)" 75 ms resend-failed
check "several: output" "$(cat "$T/out")" "$(printf '3 messages were automatically resent.\n2 messages has exceeded the retry limit (current limit: 2)')"
check "a sent" "$(status_of "$a")" sent
check "c sent" "$(status_of "$c")" sent
check "b failed again -> error" "$(status_of "$b")" error
check "over-limit x untouched" "$(status_of "$x"):$(field "$x" sending_failed_count)" failed:3
check "over-limit y untouched" "$(status_of "$y")" failed
check "error receiver ignored" "$(status_of "$e"):$(field "$e" sending_failed_count)" error:1

# --- permanent_failures_to_error sends 5xx straight to error/ ---
smtp_conf "$PORT" "" "permanent_failures_to_error: true"
p2=$(enq perm550@example.com)
t2=$(enq temp451@example.com)
ms send >/dev/null
check "5xx -> error with the option" "$(status_of "$p2")" error
check "4xx still failed" "$(status_of "$t2")" failed
smtp_conf "$PORT"

# --- a dead server: nothing counted, the pass stops, all stay in new/ ---
rm -f "$T"/spool/*/*.yaml
dead=$(free_port)
smtp_conf "$dead"
for i in 1 2 3; do enq "ok$i@example.com" >/dev/null; done
check_rc "send to a dead server" 75 ms send
check "nothing recorded as failed" "$(count failed)" 0
check "all left in new/" "$(count new)" 3
check_contains "reason on stderr" "$(cat "$T/err")" "refused the connection"
check_contains "deferred on stderr" "$(cat "$T/err")" "outcome=deferred"
n1=$(ls "$T/spool/new" | head -1 | sed 's/.yaml$//')
check "not counted" "$(field "$n1" sending_failed_count)" None
check "active/ empty" "$(count active)" 0
smtp_conf "$PORT"
check_rc "send when it is back" 0 ms send
check "all sent now" "$(count sent)" 3

# --- a render failure goes to error/ at once, nothing sent ---
printf 'msgspool: 1\nsend_to: ok@example.com\nsubject: s\ntext: x\nheaders:\n  Bcc: someone@example.com\n' > "$T/bcc.yaml"
check_rc "unsafe header: enqueue refuses it" 65 sh -c "'$BLD/msgspool' enqueue - < '$T/bcc.yaml'"
# A producer writing straight into new/ gets error/ instead.
cp "$T/bcc.yaml" "$T/spool/new/bcc1.yaml"; h=bcc1
before=$(mails)
ms send >/dev/null 2>&1
check "unsafe header: error" "$(status_of "$h")" error
check_contains "unsafe header: reason" "$(err "$h" error)" "Bcc is not in the list of headers"
check "unsafe header: nothing sent" "$(mails)" "$before"

# --- quarantine during send: bad files never stop the queue ---
exec 3> "$T/spool/new/young.yaml"; echo "not: [yaml" >&3   # still open: being written
ms send >/dev/null 2>&1
check "an unreadable file still being written gets another look" "$(ls "$T/spool/new")" "young.yaml"
exec 3>&-
rm "$T/spool/new/young.yaml"
echo "not: [yaml" > "$T/spool/new/broken.yaml"
touch -d '1 minute ago' "$T/spool/new/broken.yaml"
ln -s /etc/passwd "$T/spool/new/secret.yaml"
g=$(enq good@example.com)
ms send > "$T/out" 2> "$T/err"
check "good one sent past bad files" "$(status_of "$g")" sent
check "broken quarantined" "$(ls "$T/spool/corrupt" | sort | tr '\n' ' ')" "broken.yaml secret.yaml "
check_contains "quarantine logged with reason" "$(cat "$T/err")" "broken.yaml: quarantined into corrupt/:"
check_contains "symlink reason" "$(cat "$T/err")" "a symbolic link (never followed)"
check "symlink still a symlink" "$(stat -c %F "$T/spool/corrupt/secret.yaml")" "symbolic link"
if grep -rq "root:x:0" "$OUT" 2>/dev/null; then fail "the symlink's target was sent"; else ok "symlink target never sent"; fi

# --- PIPELINING (RFC 2920): offered, MAIL+RCPT+DATA go in one write ---
start_smtpd pipe --pipelining || exit 1
smtp_conf "$PORT" "  connections: 1"
rm -f "$T"/spool/*/*.yaml
g1=$(enq piped1@example.com)
pt=$(enq temp451@example.com)
pp=$(enq perm550@example.com)
pd=$(enq data554@example.com)
printf 'msgspool: 1\nsend_to: ok@example.com\nfrom: "Bad <mail451@example.org>"\nsubject: s\ntext: x\n' > "$T/mf.yaml"
pm=$(ms enqueue - < "$T/mf.yaml")
g2=$(enq piped2@example.com)
ms send > "$T/out"
check "pipelined: summary" "$(cat "$T/out")" "2 sent, 4 failed, 0 error, 0 quarantined"
check "pipelined: both good ones arrived" "$(mails)" 2
check "pipelined: sent before the failures" "$(status_of "$g1")" sent
check "pipelined: and after them, on the same session" "$(status_of "$g2")" sent
f=$(grep -l "piped2@example.com" "$OUT"/*.env | sed 's/\.env$/.eml/')
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
check "pipelined: arrives whole" "$(j 'd["defects"]'),$(j 'd["to"]')" "[],piped2@example.com"
check "pipelined: 451 at RCPT" "$(err "$pt" error)" "451 4.3.0 try again later"
check "pipelined: 550 at RCPT, not DATA's 503" "$(err "$pp" error)" "550 5.1.1 no such user here"
check "pipelined: 554 after the data" "$(err "$pd" smtp_code)" 554
check "pipelined: MAIL refused wins over RCPT's and DATA's replies" "$(err "$pm" error)" "451 4.3.0 sender deferred"
tr=$(err "$pt" transcript)
# DATA was written before the reply to RCPT was read: that is pipelining.
check "pipelined: DATA sent before RCPT's reply" "$(printf '%s\n' "$tr" | grep -n -m1 -e '^>>> DATA' -e '^<<< 451' | cut -d: -f2-)" ">>> DATA"
check_contains "pipelined: transcript has the refusal" "$tr" "*** RCPT TO failed: 451 4.3.0 try again later"
h=$(enq hang@example.com)
ms send >/dev/null
check "pipelined: a hang at RCPT times out" "$(status_of "$h")" failed
check_contains "pipelined: hang says no reply" "$(err "$h" error)" "no reply"

# A broken server that answers DATA with 354 after refusing RCPT waits for
# text: the session is closed, with nothing more written (no dot, no RSET,
# no QUIT), and the refusal is the outcome.
rawport=$(free_port)
py - "$rawport" "$T/raw-after-data" "$T/raw.ready" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[3], "w").close()
c, _ = s.accept(); f = c.makefile("rb"); c.sendall(b"220 raw\r\n")
replies = {b"EHLO": b"250-raw\r\n250 PIPELINING\r\n", b"HELO": b"250 raw\r\n", b"MAIL": b"250 ok\r\n",
           b"RCPT": b"550 5.1.1 nope\r\n", b"DATA": b"354 go on\r\n"}
c.settimeout(10)
while True:
    line = f.readline()
    if not line:
        break
    c.sendall(replies.get(line[:4].upper(), b"500 what\r\n"))
    if line[:4].upper() == b"DATA":
        break
with open(sys.argv[2], "wb") as out:
    try:
        out.write(f.read())
    except OSError:
        pass
PY
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -f "$T/raw.ready" ] && break; sleep 0.1; done
smtp_conf "$rawport"
b1=$(enq nope@example.com)
ms send >/dev/null
check "354 after a refusal: the refusal counts" "$(err "$b1" error)" "550 5.1.1 nope"
check "354 after a refusal: failed, not sent" "$(status_of "$b1")" failed
for _ in $(seq 50); do [ -f "$T/raw-after-data" ] && break; sleep 0.1; done
check "354 after a refusal: nothing written after DATA" "$(cat "$T/raw-after-data" 2>&1)" ""
smtp_conf "$PORT"

# smtp.pipelining: false goes one command at a time even when offered.
smtp_conf "$PORT" "  pipelining: false"
s2=$(enq temp451@example.com)
ms send >/dev/null
check "not pipelined when turned off" "$(err "$s2" transcript | grep -c '^>>> DATA')" 0
check "turned off: same refusal" "$(err "$s2" error)" "451 4.3.0 try again later"

finish
