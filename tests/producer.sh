#!/bin/bash
# producer: a member of the producers group is hostile. Everything it can
# write in tmp/, new/ and messages/ (records, names, links, FIFOs, sizes,
# text) is tried against msgspool send, list, show and msgspoold; nothing
# it writes may crash them, move a file anywhere but new/, hang them, or
# reach a terminal or a log line raw.
. "${top_srcdir:-.}/tests/lib.sh"

ms init >/dev/null
S=$T/spool
receiver() { printf 'msgspool: 1\nsend_to: %s\nsubject: %s\ntext: |\n  Hello.\n' "$1" "${2:-Test}"; }

# --- 1. a record whose values have the wrong types ---
for bad in 'publishing: [[1]]' 'publishing: [{a: b}]' 'publishing: {a: b}' 'publishing: [null]' \
	   'publishing: [x]
staged_as: [1]'; do
	printf 'msgspool: 1\ncreated: "2026-01-01T00:00:00Z"\nreceivers: 1\n%s\n' "$bad" > "$S/messages/bad.yaml"
	check_rc "send survives a record with '$bad'" 0 ms send
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

# --- 6. a file with 50,000 keys: refused at once, not minutes of CPU ---
# (check_ydoc counts the comparisons; the timeout here only catches a hang)
py -c 'import sys; sys.stdout.write("msgspool: 1\nsend_to: k@example.com\nsubject: keys\ntext: x\n" + "".join("k%d: v\n" % i for i in range(50000)))' > "$S/new/keys.yaml"
timeout 120 "$BLD/msgspool" list > "$T/out" 2>&1
check "list over a 50,000-key receiver completes" "$?" 0
check_contains "and shows it as unreadable" "$(cat "$T/out")" "(unreadable; see show)"
check_contains "show names the limit" "$(ms show keys 2>&1)" "more keys than the limit"
rm -f "$S/new/keys.yaml"

finish
