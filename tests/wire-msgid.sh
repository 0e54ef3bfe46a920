#!/bin/bash
# wire-msgid: the Message-ID is <time.bits.attempt@domain> with 96 random
# bits, a valid msg-id (Python's email parses it without a defect), the
# same for a retry and for a duplicate after a crash, different for two
# receivers of identical content and for an id reused after its sent file
# was deleted (man/msgspool-receiver.5, "Message-ID").
. "${top_srcdir:-.}/tests/lib.sh"

ms init >/dev/null
check "msgspool init makes the key, the owner's alone" "$(stat -c %a "$T/spool/.message-id-key" 2>&1)" 600
# mid FILE: the Message-ID of a delivered message, after checking that
# Python's email reads it as a msg-id without a defect.
mid() {
	py - "$1" <<'PY'
import email, email.policy, re, sys
from email import _header_value_parser as p
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
h = m["Message-ID"]
v = str(h).strip()
defects = [str(d) for d in list(h.defects) + list(p.parse_message_id(v).all_defects)]
if defects or not re.fullmatch(r"<\d{8}T\d{6}Z\.[0-9a-f]{24}\.\d+@[a-z0-9.-]+>", v):
    print("BAD %s %s" % (v, defects))
else:
    print(v)
PY
}
last_mail() { ls -t "$T"/outbox/new/* | head -1; }
# handmade ID: a receiver file written the producer's way, without a
# message_id, always the same content (created included).
handmade() {
	printf 'msgspool: 1\nsend_to: same@example.com\nsubject: same\ncreated: 2026-11-30T00:00:00Z\ntext: "hi"\n' > "$T/spool/tmp/$1.yaml"
	mv "$T/spool/tmp/$1.yaml" "$T/spool/new/$1.yaml"
}

# --- enqueue and compose draw the bits when they write the file ---
a=$(enq twin@example.com Same)
b=$(enq twin@example.com Same)
ka=$(field "$a" message_id)
check_contains "enqueue records a message_id at once" "$ka" "@example.org>"
printf 'msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: s, text: "t"}\nreceivers: [{user: u, send_to: u@example.com}]\n' > "$T/c.yaml"
check_rc "compose" 0 ms compose -q "$T/c.yaml"
check "compose records a message_id at once" \
	"$(grep -c '^message_id: "*<[0-9]\{8\}T[0-9]\{6\}Z\.[0-9a-f]\{24\}\.1@example.org>' "$T"/spool/new/*.yaml | grep -c ':1$')" 3
check_rc "send" 0 ms send
ma=$(grep -l "^To: twin@" "$T"/outbox/new/* | head -1)
m1=$(mid "$(grep -l "^To: twin@" "$T"/outbox/new/* | sed -n 1p)")
m2=$(mid "$(grep -l "^To: twin@" "$T"/outbox/new/* | sed -n 2p)")
check "the sent Message-ID is the recorded one" "$(grep -h '^Message-ID:' "$T"/outbox/new/* | grep -c -F "$ka")" 1
check_contains "a valid msg-id (1)" "$m1" "@example.org>"
check_contains "a valid msg-id (2)" "$m2" "@example.org>"
[ "$m1" != "$m2" ] && ok "identical content, two Message-IDs" || fail "identical content, one Message-ID: $m1"

# --- a retry carries the one of the first attempt ---
start_smtpd s || { fail "smtpd"; finish; exit 1; }
cp "$MSGSPOOL_CONFIG" "$T/maildir.yaml"
smtp_conf "$PORT"
r=$(enq temp451@example.com Retry)
ms send >/dev/null 2>&1
check "the first attempt failed" "$(status_of "$r")" failed
kr=$(field "$r" message_id)
check_contains "recorded at the first attempt" "$kr" "@example.org>"
check_rc "resend over the maildir" 0 ms -c "$T/maildir.yaml" resend "$r"
check "the retry carries the same Message-ID" "$(mid "$(grep -l '^To: temp451@' "$T"/outbox/new/*)")" "$kr"

# --- a file a producer wrote without message_id ---
export MSGSPOOL_CONFIG="$T/maildir.yaml"
handmade hm1
check_rc "send hm1" 0 ms send
k1=$(mid "$(last_mail)")
check_contains "hm1: a valid msg-id" "$k1" "@example.org>"
check "the key is the owner's alone" "$(stat -c %a "$T/spool/.message-id-key")" 600
# The same file sent again after a crash between the 250 and the record:
# the same bits.
printf 'msgspool: 1\nsend_to: crash@example.com\nsubject: crash\ntext: "hi"\n' > "$T/spool/new/hm2.yaml"
MSGSPOOL_TEST_STOP=deliver-after-250 ms send >/dev/null 2>&1
check "killed after the 250" "$?" 99
check_rc "send again after the crash" 0 ms send
ids=$(grep -h '^Message-ID:' $(grep -l '^To: crash@' "$T"/outbox/new/*) | sort | uniq -c | awk '{print $1}')
check "the crash duplicate carries the same Message-ID" "$ids" 2
# The id reused in a new file of the same content: other bits.
rm "$T/spool/sent/hm1.yaml"
handmade hm1
check_rc "send a new hm1" 0 ms send
k1b=$(mid "$(last_mail)")
check_contains "reused id: a valid msg-id" "$k1b" "@example.org>"
[ "$k1b" != "$k1" ] && ok "a reused id gets another Message-ID" || fail "a reused id gets the same Message-ID $k1"
# Another spool, the same hand-written file: other bits (keyed by the spool's secret).
mkdir "$T/other"
sed "s|$T/spool|$T/other/spool|; s|$T/outbox|$T/other/outbox|" "$T/maildir.yaml" > "$T/other.yaml"
ms -c "$T/other.yaml" init >/dev/null
printf 'msgspool: 1\nsend_to: same@example.com\nsubject: same\ncreated: 2026-11-30T00:00:00Z\ntext: "hi"\n' > "$T/other/spool/new/hm1.yaml"
check_rc "send in another spool" 0 ms -c "$T/other.yaml" send
ko=$(mid "$(ls "$T"/other/outbox/new/*)")
[ "$ko" != "$k1" ] && [ "$ko" != "$k1b" ] && ok "another spool, other bits" || fail "another spool gives $ko"
# A key file a stranger could write is not trusted: the bits do not come
# from it, nor from the file without a key (anyone who can stat the file
# and read it would compute those), but from getrandom, recorded in the
# file. Derived bits would be the same again for the same file after a
# crash between the 250 and the record; drawn ones are not.
chmod 0640 "$T/other/spool/.message-id-key"
printf 'msgspool: 1\nsend_to: k@example.com\nsubject: k\ntext: "hi"\n' > "$T/other/spool/new/k.yaml"
MSGSPOOL_TEST_STOP=deliver-after-250 ms -c "$T/other.yaml" send >/dev/null 2>&1
check "untrusted key: killed after the 250" "$?" 99
check_rc "send with an untrusted key file" 0 ms -c "$T/other.yaml" send
k1=$(mid "$(grep -l '^To: k@' "$T"/other/outbox/new/* | sed -n 1p)")
k2=$(mid "$(grep -l '^To: k@' "$T"/other/outbox/new/* | sed -n 2p)")
check_contains "still a valid msg-id" "$k2" "@example.org>"
[ "$k1" != "$k2" ] && ok "untrusted key: drawn bits, not derived from the file" ||
	fail "untrusted key: the same bits for the same file ($k1): derived without a key, anyone computes them"
check_contains "untrusted key: the sender says so" "$(cat "$T/err")" "get random bits here"
rec=$(sed -n 's/^message_id: "*\([^"]*\)"*$/\1/p' "$T/other/spool/sent/k.yaml")
check "untrusted key: the Message-ID sent last is recorded in the file" \
	"$(grep -l -F "Message-ID: $rec" $(grep -l '^To: k@' "$T"/other/outbox/new/*) | wc -l)" 1
# --- msgspool-web's resend without a usable key: the drawn Message-ID is
# written into the file with the resend's event, before the send, so a
# duplicate after a crash between the 250 and the record carries it too ---
. "$SRC/tests/web-lib.sh"
web_users
MSGSPOOL_CONFIG="$T/other.yaml" web_conf
printf 'msgspool: 1\nsend_to: w@example.com\nsubject: w\ntext: "hi"\n' > "$T/other/spool/new/w.yaml"
MSGSPOOL_CONFIG="$T/other.yaml" MSGSPOOL_TEST_STOP=deliver-after-250 start_web ||
	fail "msgspool-web did not start: $(cat "$T/web.log")"
curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids": ["w"]}' "$WEB/api/resend" >/dev/null
wait "$WEB_PID"
check "web resend: killed after the 250" "$?" 99
pinned=$(sed -n 's/^message_id: "*\([^"]*\)"*$/\1/p' "$T/other/spool/active/w.yaml")
check_contains "web resend: the Message-ID is in the file before the send" "$pinned" "@example.org>"
check_rc "send again after the web's crash" 0 ms -c "$T/other.yaml" send
check "web resend: the crash duplicate carries the same Message-ID, the one in the file" \
	"$(grep -h '^Message-ID:' $(grep -l '^To: w@' "$T"/other/outbox/new/*) | tr -d '\r' | sort | uniq -c | sed 's/^ *//')" "2 Message-ID: $pinned"
# --- msgspoold makes the key at start (a spool made before init did) ---
rm "$T/other/spool/.message-id-key"
printf 'daemon:\n  user: root\n' >> "$T/other.yaml"
MSGSPOOL_CONFIG="$T/other.yaml" start_daemon kd || fail "msgspoold did not start: $(cat "$T/kd.dlog")"
check "msgspoold makes the key at start, the owner's alone" "$(stat -c %a "$T/other/spool/.message-id-key" 2>&1)" 600
stop_daemon >/dev/null
finish
