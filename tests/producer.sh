#!/bin/bash
# producer: a member of the producers group is hostile. Everything it can
# write in tmp/, new/ and messages/ (records, names, links, FIFOs, sizes,
# text) is tried against msgspool send, list, show and msgspoold; nothing
# it writes may crash them, move a file anywhere but new/, hang them, or
# reach a terminal or a log line raw.
. "${top_srcdir:-.}/tests/lib.sh"

ms init >/dev/null
mkdir -p "$T/outbox/tmp" "$T/outbox/new" "$T/outbox/cur"
S=$T/spool
receiver() { printf 'msgspool: 1\nsend_to: %s\nsubject: %s\ntext: |\n  Hello.\n' "$1" "${2:-Test}"; }

# --- 1. a record whose values have the wrong types ---
for bad in 'publishing: [[1]]' 'publishing: [{a: b}]' 'publishing: {a: b}' 'publishing: [null]' \
	   'publishing: [x]
staged_as: [1]'; do
	printf 'msgspool: 1\ncreated: "2026-01-01T00:00:00Z"\nreceivers: 1\n%s\n' "$bad" > "$S/messages/bad.yaml"
	check_rc "send survives a record with '$bad'" 0 ms send
	check_contains "send names the record and why ('$bad')" "$(cat "$T/err")" "messages/bad.yaml: not published: 'publishing' must be a list"
	check "the record is left as it was ('$bad')" "$(grep -c publishing "$S/messages/bad.yaml")" 1
done
rm -f "$S/messages/bad.yaml"

# --- 2. publishing ids and tags that name other places ---
# A producer makes new/a a link to sent/ (or a Maildir outbox) and stages a
# file under tmp/a/: publishing "a/X" would rename it to sent/X.yaml.
mkdir "$S/tmp/a"; receiver x@example.com > "$S/tmp/a/X.yaml.t.staged"
ln -s ../sent "$S/new/a"
printf 'msgspool: 1\ncreated: "2026-01-01T00:00:00Z"\nreceivers: 1\npublishing: [a/X]\nstaged_as: t\n' > "$S/messages/trav.yaml"
ms send >/dev/null 2>&1
check "an id with a slash is never published" "$(ls "$S/sent")" ""
rm -f "$S/sent/"*
printf 'msgspool: 1\ncreated: "2026-01-01T00:00:00Z"\nreceivers: 1\npublishing: [X]\nstaged_as: "t/../../new/a/Y"\n' > "$S/messages/trav.yaml"
receiver y@example.com > "$S/tmp/X.yaml.t"
ms send >/dev/null 2>&1
check "a tag with a slash is never used" "$(ls "$S/sent")" ""
rm -rf "$S/new/a" "$S/tmp/a" "$S/messages/trav.yaml" "$S/tmp/X.yaml.t"

# --- 4. the list cache ---
# A FIFO where list would write its cache (its pid is the shell's, exec'd).
receiver c@example.com Cached > "$S/new/cached.yaml"
for d in tmp .; do
	timeout 60 sh -c 'mkfifo "$1/$2/.list-cache.$$"; exec "$3/msgspool" list' sh "$S" "$d" "$BLD" > "$T/out" 2>&1
	check "list is not held up by a FIFO planted in $d/ (hang guard)" "$?" 0
	rm -f "$S/$d"/.list-cache.*
done
# A cache file the spool's owner did not write is not trusted: here it says
# the receiver was created in 1970, which would make it old enough to delete.
rm -f "$S/.list-cache"
py - "$S" <<'PY'
import os, sys
s = sys.argv[1]
st = os.stat(os.path.join(s, "new", "cached.yaml"))
with open(os.path.join(s, ".list-cache"), "w") as f:
    f.write("v1\t0\tcached\t%d\t%d\t%d\t%d\t86400\t0\t0\t0\tsForged\t-\tsc@example.com\t-\n"
            % (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
os.chown(os.path.join(s, ".list-cache"), 65534, -1)
PY
check_contains "a forged cache is not believed (list)" "$(ms list)" "Cached"
check_contains "nor by delete-receivers" "$(ms delete-receivers --dry-run 90)" "Would delete 0 message receivers."
rm -f "$S/new/cached.yaml" "$S/.list-cache"

# --- 3. the producers' directories: sticky, checked at start ---
ms --spool "$T/grp" init --owner nobody --group users >/dev/null
check "init --group: tmp/, new/, messages/ sticky" "$(stat -c '%a' "$T/grp/tmp" "$T/grp/new" "$T/grp/messages" | sort -u)" 3770
# As a real member of the group (user daemon, group users): it may write
# tmp/ and new/, but not move or remove the owner's files there.
producer() { setpriv --reuid=daemon --regid=daemon --groups=100 "$@"; }
chmod o+x "$T"	# the test directory itself, so a group member reaches the spool
touch "$T/grp/tmp/pool.1.aabbccddeeff"; chown nobody "$T/grp/tmp/pool.1.aabbccddeeff"
producer sh -c "echo x > '$T/grp/tmp/mine' && mv '$T/grp/tmp/mine' '$T/grp/new/mine.yaml'" 2>/dev/null
check "a producer writes tmp/ and renames into new/" "$(ls "$T/grp/new")" "mine.yaml"
producer mv "$T/grp/tmp/pool.1.aabbccddeeff" "$T/grp/tmp/elsewhere" 2>/dev/null
check "but cannot rename the owner's file in tmp/" "$(ls "$T/grp/tmp" | tr '\n' ' ')" "pool.1.aabbccddeeff "
producer rm -f "$T/grp/tmp/pool.1.aabbccddeeff" 2>/dev/null
check "nor remove it" "$(ls "$T/grp/tmp" | tr '\n' ' ')" "pool.1.aabbccddeeff "
producer sh -c "echo x > '$T/grp/sent/x.yaml'" 2>/dev/null
check "nor write sent/" "$(ls "$T/grp/sent")" ""

# --- 3b. the claims' fence: the owner's file, read-only for producers, and
# a producer's shared lock held forever does not stop the queue ---
ms --spool "$T/grp" list >/dev/null 2>&1
check "the fence file is the spool owner's, 0644" "$(stat -c '%U %a' "$T/grp/.fence")" "nobody 644"
check "a producer can read it" "$(producer cat "$T/grp/.fence" >/dev/null 2>&1 && echo yes)" yes
producer sh -c "echo x >> '$T/grp/.fence'" 2>/dev/null
check "a producer cannot write it" "$(stat -c %s "$T/grp/.fence")" 0
ms list >/dev/null
py - "$S/.fence" "$T/fence-held" <<'P' &
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
# Shared locks on new/'s byte and its turnstile (spool-layout rule 3), as a
# producer can take them, held until killed.
fcntl.fcntl(fd, getattr(fcntl, "F_OFD_SETLK", 37), struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 2, 0))
open(sys.argv[2], "w").close()
time.sleep(600)
P
HOLDER=$!
wait_until 10 test -f "$T/fence-held" || fail "the lock holder did not start"
for i in 1 2 3; do receiver "fence$i@example.com" | ms enqueue - >/dev/null || fail "enqueue $i"; done
# Fenced even where this machine's file system keeps renames whole.
check_rc "send beside a producer holding the fence's shared lock" 0 env MSGSPOOL_TEST_RENAMES=fenced "$BLD/msgspool" send
check "and every receiver is sent" "$(grep -l 'send_to: fence[123]@' "$S"/sent/*.yaml | wc -l)" 3
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null

# --- 6. a file with 50,000 keys: refused at once, not minutes of CPU ---
# (check_ydoc counts the comparisons; the timeout here only catches a hang)
py -c 'import sys; sys.stdout.write("msgspool: 1\nsend_to: k@example.com\nsubject: keys\ntext: x\n" + "".join("k%d: v\n" % i for i in range(50000)))' > "$S/new/keys.yaml"
timeout 120 "$BLD/msgspool" list > "$T/out" 2>&1
check "list over a 50,000-key receiver completes" "$?" 0
check_contains "and shows it as unreadable" "$(cat "$T/out")" "(unreadable; see show)"
check_contains "show names the limit" "$(ms show keys 2>&1)" "more keys than the limit"
rm -f "$S/new/keys.yaml"

# --- 7. text that would drive a terminal or split a log line ---
ESC=$(printf '\033')
cat > "$S/new/esc.yaml" <<'Y'
msgspool: 1
send_to: esc@example.com
subject: "\e]0;owned\a\e[2J red \e[31mRED"
user: "\e[8mhidden"
context_type: "t\e[5m"
text: "body \e[2J line\n"
Y
out=$(ms list 2>&1)
check "list prints no escape character" "$(printf '%s' "$out" | grep -c "$ESC")" 0
check_contains "list shows it escaped" "$out" '\x1b[31mRED'
out=$(ms show esc 2>&1)
check "show prints no escape character" "$(printf '%s' "$out" | grep -c "$ESC")" 0
check_contains "show shows the body escaped" "$out" 'body \x1b[2J line'
out=$(ms stats 2>&1)
check "stats prints no escape character" "$(printf '%s' "$out" | grep -c "$ESC")" 0
check "list --json stays exact JSON" "$(ms list --json | py -c 'import json,sys; print(json.load(sys.stdin)[0]["subject"] == "\x1b]0;owned\x07\x1b[2J red \x1b[31mRED")')" True
rm -f "$S/new/esc.yaml"
# A header name with a newline: the quarantine's log line stays one line.
cat > "$S/new/hdr.yaml" <<'Y'
msgspool: 1
send_to: hdr@example.com
subject: header
text: x
headers: {"X-A\nInjected: yes": v}
Y
touch -d '-1 min' "$S/new/hdr.yaml"	# not a file still being written
ms send > "$T/out" 2> "$T/err"
check "send's messages: no raw newline from a header name" "$(grep -c '^Injected' "$T/err")" 0
check_contains "and the name is there, escaped" "$(cat "$T/err")" 'X-A\nInjected'
rm -f "$S"/*/hdr.yaml
# The same through msgspoold's log.
printf 'daemon:\n  user: root\n' >> "$MSGSPOOL_CONFIG"
# (with a record of the wrong types in messages/, which once killed it at start)
printf 'msgspool: 1\ncreated: "2026-01-01T00:00:00Z"\nreceivers: 1\npublishing: [[1]]\n' > "$S/messages/bad.yaml"
start_daemon d || fail "daemon did not start: $(cat "$T/d.dlog")"
cat > "$S/tmp/hdr2.yaml" <<'Y'
msgspool: 1
send_to: hdr@example.com
subject: header
text: x
headers: {"X-A\nInjected: yes": v}
Y
touch -d '-1 min' "$S/tmp/hdr2.yaml"
mv "$S/tmp/hdr2.yaml" "$S/new/"
wait_until 20 test -f "$S/corrupt/hdr2.yaml" || fail "not quarantined: $(cat "$T/d.dlog")"
check_contains "the daemon names a bad record and why" "$(cat "$T/d.dlog")" "messages/bad.yaml: not published"
wait_until 10 grep -q 'X-A' "$T/d.dlog"
check "msgspoold's log: no raw newline from a header name" "$(grep -c '^Injected' "$T/d.dlog")" 0
check_contains "and the name is there, escaped" "$(cat "$T/d.dlog")" 'X-A\nInjected'
check "msgspoold still runs beside a record of the wrong types" "$(kill -0 "$DPID" 2>/dev/null && echo running)" running
kill "$DPID"; wait "$DPID" 2>/dev/null
rm -f "$S/messages/bad.yaml"
# A spool whose producers' directories lost the sticky bit: said at start.
chmod 2770 "$S/tmp"
start_daemon d2 || fail "daemon did not start: $(cat "$T/d2.dlog")"
chmod 3770 "$S/tmp"
check_contains "msgspoold warns of tmp/ without the sticky bit" "$(cat "$T/d2.dlog")" "tmp/ writable by others without the sticky bit"
kill "$DPID"; wait "$DPID" 2>/dev/null

finish
