#!/bin/bash
# cli-basic: init, enqueue (options and stdin), list, show, ids and prefixes,
# and bad input refused with a clear error that changes nothing.
. "${top_srcdir:-.}/tests/lib.sh"

check_rc "init" 0 ms init
for d in tmp new active failed error sent messages corrupt; do
	[ -d "$T/spool/$d" ] || fail "init made $d/"
done
check "spool mode" "$(stat -c %a "$T/spool/sent")" "700"

printf 'Hello April,\nthe deadline moved.\n' > "$T/body.txt"
id=$(ms enqueue --to april@example.com --subject "Frist flyttet for Øving 3" \
	--text-file "$T/body.txt" --user april --language nb --type deadline_moved)
check "enqueue exit" "$?" 0
check "enqueue prints id" "$(ls "$T/spool/new")" "$id.yaml"
[[ "$id" =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{16}$ ]] && ok "id format" || fail "id format: $id"

id2=$(ms enqueue - < "$SRC/spool-layout/examples/valid/deadline-nb.yaml")
check "enqueue - exit" "$?" 0
check "two in new/" "$(count new)" 2

# list: the columns, newest first (the example's created is older), the total.
out=$(ms list)
check "list header" "$(echo "$out" | head -1 | tr -s ' ')" "ID CREATED SUBJECT TO USER FAILED SUCCESS STATUS SENT TYPE"
check "list newest first" "$(echo "$out" | sed -n 2p | cut -d' ' -f1)" "$id"
check "list total" "$(echo "$out" | tail -1)" "2 message receivers"
check_contains "list subject" "$out" "Frist flyttet for Øving 3"
check "list --status sent empty" "$(ms list --status sent | tail -1)" "0 message receivers"
check "list --status not_sent" "$(ms list --status not_sent | tail -1)" "2 message receivers"

# --json parsed by a real parser.
ms list --json > "$T/list.json"
check "list --json" "$(py -c '
import json,sys
a=json.load(open(sys.argv[1]))
print(len(a), a[0]["id"]==sys.argv[2], a[0]["status"], a[0]["send_to"], a[1]["metadata"]["assignment_id"], a[1]["msgspool"])
' "$T/list.json" "$id")" "2 True not_sent april@example.com 42 1"

# show by unique prefix.
out=$(ms show "${id:0:30}")
check_contains "show subject" "$out" "Frist flyttet for Øving 3"
check_contains "show body" "$out" "the deadline moved."
check_contains "show status" "$out" "not_sent"
out=$(ms show --json "$id2")
check "show --json" "$(echo "$out" | py -c 'import json,sys; d=json.load(sys.stdin); print(d["user"], d["html"].count("<li>"))')" "april 2"
check_rc "show ambiguous prefix" 64 ms show 2
check_contains "ambiguous message" "$(cat "$T/err")" "matches more than one receiver"
check_rc "show unknown id" 66 ms show nosuchid
check_rc "show bad id" 66 ms show ../../etc/passwd

# Bad input: clear error naming the source, nothing written.
before=$(count new)
check_rc "enqueue crlf subject" 65 ms enqueue --to a@example.com --subject $'x\r\nBcc: evil@example.com' --text-file "$T/body.txt"
check_contains "crlf error" "$(cat "$T/err")" "subject: line breaks are not allowed"
check_rc "enqueue bad address" 65 ms enqueue --to nobody --subject s --text-file "$T/body.txt"
check_rc "enqueue missing body" 64 ms enqueue --to a@example.com --subject s
check_rc "enqueue - invalid" 65 sh -c "'$BLD/msgspool' enqueue - < '$SRC/spool-layout/examples/invalid/billion-laughs.yaml'"
check_contains "enqueue - error names stdin" "$(cat "$T/err")" "<stdin>:1: anchors are not allowed"
check_rc "enqueue missing file" 66 ms enqueue --to a@example.com --subject s --text-file "$T/nope"
# A body that is not UTF-8 (a NUL, Latin-1): exit 65 naming the file, no crash.
printf 'a\0b\n' > "$T/nul.txt"; printf 'Bl\xe5b\xe6r\n' > "$T/latin1.txt"
for f in nul latin1; do
	check_rc "enqueue $f text-file" 65 ms enqueue --to a@example.com --subject s --text-file "$T/$f.txt"
	check "$f error names the file" "$(cat "$T/err")" "msgspool: $T/$f.txt: not UTF-8 text"
	check_rc "enqueue $f html-file" 65 ms enqueue --to a@example.com --subject s --text-file "$T/body.txt" --html-file "$T/$f.txt"
	check "$f html error names the file" "$(cat "$T/err")" "msgspool: $T/$f.txt: not UTF-8 text"
done
check "nothing written by bad input" "$(count new)" "$before"
check "tmp/ empty" "$(ls -A "$T/spool/tmp" | wc -l)" 0

# Unreadable files are listed, not fatal; editor droppings are ignored.
echo "not: [yaml" > "$T/spool/new/broken.yaml"
touch "$T/spool/new/.hidden.yaml" "$T/spool/new/x.yaml~" "$T/spool/new/notes.txt"
out=$(ms list)
check "list counts the broken file" "$(echo "$out" | tail -1)" "3 message receivers"
check_contains "list marks it" "$out" "(unreadable; see show)"
check_rc "show broken" 65 ms show broken
check_contains "show broken names file and line" "$(cat "$T/err")" "new/broken.yaml:2:"

# Configuration errors name file, line and key; -c and MSGSPOOL_CONFIG.
printf 'spool: %s/spool\nsmtp:\n  prot: 25\n' "$T" > "$T/bad.yaml"
check_rc "bad config" 78 ms -c "$T/bad.yaml" list
check "bad config message" "$(cat "$T/err")" "msgspool: $T/bad.yaml:3: smtp.prot: unknown key"
check_rc "missing -c file" 78 ms -c "$T/none.yaml" list
check_rc "unknown command" 64 ms frobnicate
for c in init enqueue list show; do
	check_rc "$c --help" 0 ms "$c" --help
	check_contains "$c --help text" "$(cat "$T/out")" "Usage: msgspool $c"
done
check_rc "--help" 0 ms --help

# Bash completion completes commands and option values.
comp() { bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _msgspool; echo "${COMPREPLY[*]}"' _ "$SRC/completion/msgspool" "$@"; }
check "completion: command" "$(comp msgspool li)" "list"
check "completion: status" "$(comp msgspool list --status fa)" "failed"
check "completion: option" "$(comp msgspool stats --op)" "--openmetrics"

# The man pages render without warnings.
for m in "$SRC"/man/*.[158]; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)
	check "man page $(basename "$m") renders cleanly" "$w" ""
done

finish
