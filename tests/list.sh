#!/bin/bash
# list: reading the queue from a shell: list's TO column, rows that fit the
# terminal (the subject cut, never the row wrapped) and whole rows when
# piped, list through $PAGER on a terminal, the candidates of an ambiguous
# id prefix, and show naming the file.
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null

# mk STATUS ID ADDR SUBJECT [USER]
mk() {
	py - "$T/spool" "$@" <<'PY'
import os, sys
spool, st, rid, addr, subj = sys.argv[1:6]
user = sys.argv[6] if len(sys.argv) > 6 else None
y = 'msgspool: 1\nsend_to: %s\nsubject: "%s"\ntext: x\ncreated: "2026-01-02T03:04:05Z"\n' % (addr, subj)
if user: y += "user: %s\n" % user
open(os.path.join(spool, {"not_sent": "new"}.get(st, st), rid + ".yaml"), "w").write(y)
PY
}
long="A subject long enough that no terminal of eighty columns can hold it beside the other columns of the list"
mk not_sent abc-1 anna@example.org "$long"
mk failed abc-2 bert.with.a.rather.long.local.part@department.example.com "Short" bert
mk sent xyz-9 carl@example.net "Third"

# --- the TO column: the address names who a receiver is for ---
ms list > "$T/list"
check_contains "a TO column" "$(head -1 "$T/list")" " TO "
check_contains "the address of a receiver without a user" "$(grep abc-1 "$T/list")" "anna@example.org"
check_contains "a long address whole when piped" "$(grep abc-2 "$T/list")" "bert.with.a.rather.long.local.part@department.example.com"

# --- fits the terminal: the subject cut, rows never wrapped; whole when piped ---
script -qc "stty cols 80 rows 50; PAGER=cat '$BLD/msgspool' list" /dev/null < /dev/null | tr -d '\r' > "$T/tty80"
widest() { py -c 'import sys; print(max(len(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")))' "$1"; }
check "no row wider than an 80-column terminal" "$(( $(widest "$T/tty80") <= 80 ))" 1
check_contains "the subject is cut with an ellipsis" "$(grep abc-1 "$T/tty80")" "…"
check_contains "the row keeps its status" "$(grep abc-1 "$T/tty80")" "not_sent"
check_contains "the whole subject when piped" "$(cat "$T/list")" "$long"
script -qc "stty cols 132 rows 50; PAGER=cat '$BLD/msgspool' list" /dev/null < /dev/null | tr -d '\r' > "$T/tty132"
check "no row wider than a 132-column terminal" "$(( $(widest "$T/tty132") <= 132 ))" 1
check_contains "every column on a wide terminal" "$(head -1 "$T/tty132")" "FAILED SUCCESS STATUS   SENT"
check_contains "the subject cut there too" "$(grep abc-1 "$T/tty132")" "…"

# --- list through $PAGER on a terminal, plain when piped ---
PAGER="sed s/^/PAGED:/" script -qc "'$BLD/msgspool' list" /dev/null < /dev/null > "$T/tty.out"
check_contains "list uses the pager on a terminal" "$(cat "$T/tty.out")" "PAGED:ID"
check "list is plain when piped" "$(PAGER="sed s/^/PAGED:/" ms list | grep -c PAGED)" 0

# --- an ambiguous id prefix lists the candidates ---
check_rc "an ambiguous prefix is a usage error" 64 ms show abc
check_contains "the first candidate named" "$(cat "$T/err")" "abc-1 (not_sent)"
check_contains "the second candidate named" "$(cat "$T/err")" "abc-2 (failed)"
check "no other receiver named" "$(grep -c xyz "$T/err")" 0

# --- show names the file ---
check_contains "show prints the file's path" "$(ms show abc-2)" "$T/spool/failed/abc-2.yaml"
check_contains "show by a unique prefix too" "$(ms show xyz)" "$T/spool/sent/xyz-9.yaml"

# --- the list cache, read a line at a time, stays right across filtered
# and whole listings, moves, edits, deletions and new files ---
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	mk not_sent "n-$i" "n$i@example.org" "New $i"
	mk failed "f-$i" "f$i@example.org" "Failed $i"
done
ms list > /dev/null
ms list --status failed > /dev/null
# fresh ARGS...: the same list without the cache (which is put back after).
fresh() { mv "$T/spool/.list-cache" "$T/cache.keep"; ms list "$@"; rm -f "$T/spool/.list-cache"; mv "$T/cache.keep" "$T/spool/.list-cache"; }
rm "$T/spool/failed/f-3.yaml"
mk failed f-13 "f13@example.org" "Failed 13"
mv "$T/spool/new/n-5.yaml" "$T/spool/failed/"
sleep 0.01; mk not_sent n-7 "n7@example.org" "Edited in place"
check "a filtered list after changes" "$(ms list --status failed)" "$(fresh --status failed)"
check "then the whole list" "$(ms list)" "$(fresh)"
rm "$T/spool/new/n-12.yaml"
check "a receiver gone from the end of a status" "$(ms list)" "$(fresh)"
check "and again from the cache it wrote" "$(ms list)" "$(fresh)"
# --- a cold listing (no cache) reads plain files without a full parse:
# hostile files must come out exactly as the full parse sees them ---
rm -f "$T/spool"/new/*.yaml "$T/spool"/failed/*.yaml "$T/spool"/sent/*.yaml "$T/spool/.list-cache"
hostile() { # NAME CONTENT: a file written by a producer, straight into new/, made two years old
	printf '%b' "$2" > "$T/spool/new/$1.yaml"
	touch -d '2024-01-01' "$T/spool/new/$1.yaml"
}
H='msgspool: 1\nsend_to: a@example.org\nsubject: s\n'
hostile forged-twice "${H}created: \"2020-01-01T00:00:00Z\"\ntext: t\ncreated: \"2020-01-02T00:00:00Z\"\n"
hostile second-doc "${H}created: \"2020-01-01T00:00:00Z\"\ntext: t\n---\nmsgspool: 1\n"
hostile bad-utf8 "${H}created: \"2020-01-01T00:00:00Z\"\ntext: |\n  fine\n  not \\xff utf-8\n"
hostile key-in-block "${H}text: |\n  created: \"2020-01-01T00:00:00Z\"\n"
hostile plain-old "${H}created: \"2020-01-01T00:00:00Z\"\ntext: t\n"
touch "$T/spool/new/key-in-block.yaml"
ms list > "$T/cold"
for f in forged-twice second-doc bad-utf8; do
	check_contains "cold list: $f is unreadable" "$(grep "$f" "$T/cold")" "(unreadable; see show)"
done
check "cold list: the key inside a block is body text" "$(grep -c 'key-in-block.*2020-01-01' "$T/cold")" 0
check "cold list: a plain old receiver is read" "$(grep -c 'plain-old.*2020-01-01' "$T/cold")" 1
check "the cold list is the list a full parse gives" "$(ms list)" "$(cat "$T/cold")"
rm -f "$T/spool/.list-cache"
check_contains "cold delete-receivers counts only the old readable one" "$(ms delete-receivers --dry-run 30)" "Would delete 1 message"
# --- a directory unchanged since the cache read it whole is read from the
# cache alone (a stamp in its trailer); a change to the directory, any
# change in new/, and an in-place change to a file not the owner's (a
# producer's file moved to hold/) are still seen ---
rm -f "$T/spool"/*/*.yaml "$T/spool/.list-cache"
for i in 1 2 3 4; do
	mk sent "s-$i" "s$i@example.org" "Sent $i"
	mk failed "f-$i" "f$i@example.org" "Failed $i"
	mk not_sent "n-$i" "n$i@example.org" "New $i"
done
mk hold h-1 "h1@example.org" "Held by a producer"
chown daemon "$T/spool/hold/h-1.yaml"
sleep 0.3
ms list > /dev/null
st_of() { awk -F'\t' -v id="$1" '$1 == "v1" && $3 == id {print $2}' "$T/spool/.list-cache"; }
stamped() { awk -F'\t' -v st="$1" '$1 == "d1" && $2 == st && $3 == 1' "$T/spool/.list-cache" | wc -l; }
check "sent/, settled, is stamped" "$(stamped "$(st_of s-1)")" 1
check "failed/, settled, is stamped" "$(stamped "$(st_of f-1)")" 1
check "new/ never is" "$(stamped "$(st_of n-1)")" 0
check "hold/ with a file not the owner's is not" "$(stamped "$(st_of h-1)")" 0
check "a listing from the stamps is the full one" "$(ms list)" "$(fresh)"
rm "$T/spool/sent/s-2.yaml"
mv "$T/spool/failed/f-1.yaml" "$T/spool/sent/"
check "a stamped directory that changed is read again" "$(ms list)" "$(fresh)"
sleep 0.3
ms list > /dev/null
sleep 0.01; mk not_sent n-3 "n3@example.org" "Rewritten in place in new"
printf 'msgspool: 1\nsend_to: h1@example.org\nsubject: "Rewritten in place in hold"\ntext: x\ncreated: "2026-01-02T03:04:05Z"\n' > "$T/spool/hold/h-1.yaml"
ms list > "$T/stamped"
check_contains "a file rewritten in place in new/ is read again" "$(cat "$T/stamped")" "Rewritten in place in new"
check_contains "a producer's file rewritten in place in hold/ is read again" "$(cat "$T/stamped")" "Rewritten in place in hold"
check "and the rest as the full listing" "$(cat "$T/stamped")" "$(fresh)"
# --- new cache files a crash left are removed when a cache is written:
# the owner's, a minute old; not a young one (a listing writing it), not
# another user's ---
touch -d '2 minutes ago' "$T/spool/.list-cache.123.aabbccddeeff.new"
touch "$T/spool/.list-cache.124.aabbccddeeff.new"
touch -d '2 minutes ago' "$T/spool/.list-cache.125.aabbccddeeff.new"
chown daemon "$T/spool/.list-cache.125.aabbccddeeff.new"
touch -d '2 minutes ago' "$T/spool/.list-cache.other"
mk sent s-9 "s9@example.org" "Sent 9"
ms list > /dev/null
check "a crashed listing's old cache file is removed" "$(ls -A "$T/spool" | grep -c '^\.list-cache\.123\.')" 0
check "a young one is kept" "$(ls -A "$T/spool" | grep -c '^\.list-cache\.124\.')" 1
check "another user's is kept" "$(ls -A "$T/spool" | grep -c '^\.list-cache\.125\.')" 1
check "another name is kept" "$(ls -A "$T/spool" | grep -c '^\.list-cache\.other$')" 1
check "no new cache file is left by the listing" "$(ls -A "$T/spool" | grep -c '\.new$')" 2
finish
