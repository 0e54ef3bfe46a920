#!/bin/bash
# queue: the operator's queue control: hold and release (by id, by filter,
# by hand with mv), delete by id or filter, --dry-run and --quiet for cron,
# and msgspool send, a one-pass sender, never touching hold/.
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null

# mk STATUS ID [FAILED_COUNT] [TYPE] [CREATED_DAYS_AGO]: a receiver file put in place by hand.
mk() {
	py - "$T/spool" "$@" <<'PY'
import datetime as D, os, sys
spool, st, rid = sys.argv[1:4]
fc = sys.argv[4] if len(sys.argv) > 4 else "0"
typ = sys.argv[5] if len(sys.argv) > 5 else "-"
days = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
created = (D.datetime.now(D.timezone.utc) - D.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
y = "msgspool: 1\nsend_to: %s@example.com\nsubject: Subject of %s\ntext: x\ncreated: \"%s\"\n" % (rid, rid, created)
if fc != "0": y += "sending_failed_count: %s\n" % fc
if typ != "-": y += "context_type: %s\n" % typ
d = {"not_sent": "new", "held": "hold"}.get(st, st)
open(os.path.join(spool, d, rid + ".yaml"), "w").write(y)
PY
}
ids() { ms list --json "$@" | py -c 'import json,sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))'; }
here() { ls "$T/spool/$1" | sed 's/\.yaml$//' | sort | tr '\n' ' ' | sed 's/ $//'; }

# --- hold and release ---
check "init makes hold/" "$(test -d "$T/spool/hold" && stat -c %a "$T/spool/hold")" 700
mk not_sent n1; mk not_sent n2 0 deadline_moved; mk not_sent n3 0 deadline_moved
mk failed f1 2; mk sent s1; mk error e1 4
check_rc "hold an id prefix" 0 ms hold n1
check "hold prints what it did" "$(cat "$T/out")" "n1: not_sent -> held"
check "held: in hold/, not in new/" "$(here hold)|$(here new)" "n1|n2 n3"
check_rc "hold from failed/" 0 ms hold f1
check "list --status held" "$(ids --status held)" "f1 n1"
check "status of a held receiver" "$(status_of f1)" "held"
check "stats --json counts held" "$(ms stats --json | py -c 'import json,sys; print(json.load(sys.stdin)["statuses"]["held"]["count"])')" 2
check_contains "stats shows held" "$(ms stats)" "held"
check_rc "hold a sent receiver refused" 65 ms hold s1
check_contains "refusal names the status" "$(cat "$T/err")" "s1: sent"
check_rc "hold an unknown id" 66 ms hold nosuch
check_rc "hold with nothing to hold" 64 ms hold
check "refusals moved nothing" "$(here sent)|$(here error)" "s1|e1"
check_rc "hold --dry-run by filter" 0 ms hold --dry-run --type deadline_moved
check "dry run says what it would do" "$(cat "$T/out")" "n2: not_sent -> held (dry run)
n3: not_sent -> held (dry run)
2 message receivers would be held."
check "dry run moved nothing" "$(here new)" "n2 n3"
check_rc "hold by filter" 0 ms hold --type deadline_moved
check "hold by filter summary" "$(tail -1 "$T/out")" "2 message receivers held."
check "held by filter" "$(here hold)" "f1 n1 n2 n3"
check_rc "hold --quiet with nothing to hold" 0 ms hold --quiet --type deadline_moved
check "quiet: nothing printed when nothing was done" "$(cat "$T/out")" ""
check_rc "release an id" 0 ms release f1
check "release prints what it did" "$(cat "$T/out")" "f1: held -> not_sent"
check "released into new/, counts kept" "$(here new)|$(field f1 sending_failed_count)" "f1|2"
check_rc "release a receiver not held" 65 ms release f1
check_rc "release by filter --dry-run" 0 ms release --dry-run --search n2
check "release dry run moved nothing" "$(here hold)" "n1 n2 n3"
check_rc "release by filter" 0 ms release --search n2
check "release by filter moved one" "$(here hold)|$(here new)" "n1 n3|f1 n2"
check_rc "hold --status sent refused" 64 ms hold --status sent

# --- a sysadmin's mv ---
mv "$T/spool/new/f1.yaml" "$T/spool/hold/"
check "mv into hold/ is held" "$(status_of f1)" "held"
mv "$T/spool/hold/n3.yaml" "$T/spool/new/"
check "mv out of hold/ is not_sent" "$(status_of n3)" "not_sent"

# --- one pass of send leaves hold/ alone ---
check_rc "send" 0 ms send
check "send sent new/ only" "$(here sent)|$(here hold)" "n2 n3 s1|f1 n1"
check "what was sent arrived, nothing held did" "$(grep -rl 'To: n2@' "$T/outbox" | wc -l) $(grep -rl 'To: f1@\|To: n1@' "$T/outbox" | wc -l)" "1 0"

# --- an old spool without hold/ ---
rmdir "$T/spool/hold" 2>/dev/null || { mkdir -p "$T/keep"; mv "$T/spool/hold"/* "$T/keep/"; rmdir "$T/spool/hold"; }
check_rc "a spool from before hold/ still opens" 0 ms list
check "opening it makes hold/" "$(test -d "$T/spool/hold" && echo yes)" yes
[ -d "$T/keep" ] && mv "$T/keep"/* "$T/spool/hold/"

# --- bash completion: commands, status values, ids of the right status, types ---
comp() { # WORDS...: what completes the last word
	PATH="$BLD:$PATH" bash -c '. "$1/completion/msgspool"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _msgspool; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ "$SRC" "$@"
}
check "completes the new commands" "$(comp msgspool h)" "hold "
check_contains "completes release and delete" "$(comp msgspool re)" "release"
check "completes held as a status" "$(comp msgspool list --status he)" "held "
check "completes ids to release from hold/" "$(comp msgspool release '')" "$(here hold) "
mk not_sent n4
check "completes ids to hold from new/ and failed/" "$(comp msgspool hold n)" "n4 "
check "completes options after a dash" "$(comp msgspool hold --d)" "--dry-run "
check "completes context types" "$(comp msgspool delete --type dead)" "deadline_moved "
check "completes ids with --spool" "$(MSGSPOOL_CONFIG=/nonexistent comp msgspool --spool "$T/spool" show n)" "n1 n2 n3 n4 "

# --- resend by filter leaves held receivers alone unless asked for them ---
mk not_sent rh1; ms hold rh1 >/dev/null
check_rc "resend by filter without --status" 0 ms resend --yes --search rh1
check "it matched nothing held" "$(cat "$T/out")|$(here hold)" "0 message receivers match; nothing to resend.|f1 n1 rh1"
check_rc "resend --status held" 0 ms resend --yes --status held --search rh1
check "asked for, a held one is resent" "$(cat "$T/out")|$(status_of rh1)" "rh1: sent|sent"

# --- delete by id or filter ---
rm -f "$T"/spool/*/*.yaml
mk not_sent d-new; mk failed d-old 1 deadline_moved 30; mk failed d-young 1 deadline_moved 0.0001
mk error d-err 3 comment_delivery 40; mk sent d-sent 0 - 50; mk held d-held 0 - 60
cp "$T/spool/new/d-new.yaml" "$T/spool/active/d-act.yaml"; echo 'not: [yaml' > "$T/spool/corrupt/d-bad.yaml"
check_rc "delete without --yes, not on a terminal" 64 sh -c "'$BLD/msgspool' delete d-new < /dev/null"
check_contains "says to add --yes" "$(cat "$T/err")" "add --yes"
check "refused: nothing deleted" "$(here new)" "d-new"
check_rc "delete --dry-run" 0 ms delete --dry-run d-new d-held
check "delete --dry-run lists" "$(cat "$T/out")" "d-held: held (dry run)
d-new: not_sent (dry run)
Would delete 2 message receivers."
check "delete --dry-run deletes nothing" "$(here new)|$(here hold)" "d-new|d-held"
check_rc "delete ids --yes" 0 ms delete --yes d-new d-held
check "delete ids prints Devilry's line" "$(cat "$T/out")" "Deleting 2 message receivers."
check "deleted by id" "$(here new)|$(here hold)" "|"
check_rc "delete a file in active/ refused" 65 ms delete --yes d-act
check_rc "delete a file in corrupt/ refused" 65 ms delete --yes d-bad
check "active/ and corrupt/ untouched" "$(here active)|$(here corrupt)" "d-act|d-bad"
check_rc "delete by filter needs --status" 64 ms delete --yes --type deadline_moved
check_rc "delete --status active refused" 64 ms delete --yes --status active
check_rc "delete --status failed --older-than 7 --dry-run" 0 ms delete --dry-run --status failed --older-than 7
check "older-than picks the old one" "$(cat "$T/out")" "d-old: failed (dry run)
Would delete 1 message receivers."
check_rc "delete --status failed --type --older-than" 0 ms delete --yes --status failed --type deadline_moved --older-than 7
check "only the old failed one went" "$(here failed)" "d-young"
check_rc "delete --search" 0 ms delete --yes --status error --status sent --search d-s
check "search picked d-sent" "$(here sent)|$(here error)" "|d-err"
check_rc "delete --quiet with no match" 0 ms delete --quiet --yes --status sent
check "quiet prints nothing when nothing matched" "$(cat "$T/out")" ""
check_rc "delete with no match, not quiet" 0 ms delete --yes --status sent
check "says 0" "$(cat "$T/out")" "Deleting 0 message receivers."
(sleep 1; printf 'n\n') | script -qc "'$BLD/msgspool' delete d-err" /dev/null > "$T/tty.out" 2>&1
check_contains "asks on a terminal" "$(cat "$T/tty.out")" "Delete 1 message receiver? [y/N]"
check "answered no: kept" "$(here error)" "d-err"
(sleep 1; printf 'y\n') | script -qc "'$BLD/msgspool' delete d-err" /dev/null > "$T/tty.out" 2>&1
check "answered yes: deleted" "$(here error)" ""

# --- each command-line hold, release, delete and resend leaves a line in SPOOL/audit ---
rm -f "$T"/spool/*/*.yaml "$T/spool/audit"
me=$(id -un)
aud() { env -u SUDO_USER -u SUDO_UID "$BLD/msgspool" "$@"; }
alines() { cut -d' ' -f2- "$T/spool/audit" 2>/dev/null; : 2>/dev/null > "$T/spool/audit"; } # the lines since the last call
mk not_sent a1; mk not_sent a2 0 audit_t; mk not_sent a3 0 audit_t; mk failed a4 1 audit_t
check_rc "hold --dry-run" 0 aud hold --dry-run a1
check_rc "hold --dry-run by filter" 0 aud hold --dry-run --type audit_t
check_rc "delete --dry-run" 0 aud delete --dry-run --yes a1
check_rc "resend --dry-run by filter" 0 aud resend --dry-run --yes --type audit_t
check "a dry run writes no audit line" "$(alines)" ""
check_rc "hold by id" 0 aud hold a1
check_contains "the line starts with a UTC time" "$(cat "$T/spool/audit")" "Z hold a1 "
check "hold by id: its line, VIA cli, the user" "$(alines)" "hold a1 new/ $me cli"
check_rc "hold by filter" 0 aud hold --type audit_t
check "hold by filter: a line each" "$(alines)" "hold a2 new/ $me cli
hold a3 new/ $me cli
hold a4 failed/ $me cli"
check_rc "release by id" 0 env SUDO_USER=alice SUDO_UID=424242 "$BLD/msgspool" release a1
check "release through sudo names SUDO_USER" "$(alines)" "release a1 hold/ alice cli"
check_rc "release by filter" 0 aud release --type audit_t
check "release by filter: a line each" "$(alines)" "release a2 hold/ $me cli
release a3 hold/ $me cli
release a4 hold/ $me cli"
check_rc "resend by id" 0 aud resend a1
check "resend by id: its line" "$(alines)" "resend a1 new/ $me cli"
check_rc "resend by filter" 0 aud resend --yes --status not_sent --type audit_t
check "resend by filter: a line each" "$(alines)" "resend a2 new/ $me cli
resend a3 new/ $me cli
resend a4 new/ $me cli"
check_rc "delete by id" 0 aud delete --yes a1
check "delete by id: its line" "$(alines)" "delete a1 sent/ $me cli"
check_rc "delete by filter" 0 aud delete --yes --status sent --type audit_t
check "delete by filter: a line each" "$(alines)" "delete a2 sent/ $me cli
delete a3 sent/ $me cli
delete a4 sent/ $me cli"
check_rc "delete --dry-run by filter" 0 aud delete --dry-run --status sent
check "still no line for a dry run" "$(alines)" ""

# --- a bulk hold, release or delete flushes each directory it touched once,
# after its last rename, and its audit lines once (fsync and fdatasync
# counted with strace), as the web's bulk actions do ---
if command -v strace >/dev/null; then
	rm -f "$T"/spool/*/*.yaml "$T/spool/audit"
	plant new bulk 200 failed bfail 20
	NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # LeakSanitizer cannot run under ptrace
	# flushes CMD...: runs msgspool CMD under strace; prints its fsync and fdatasync calls.
	flushes() {
		env "$NOLEAK" strace -f -qq -y -e trace=fsync,fdatasync,sync,syncfs -o "$T/st" "$BLD/msgspool" "$@" >"$T/out" 2>"$T/err"
		grep -cE '(^|[0-9] +)(fsync|fdatasync|sync|syncfs)\(' "$T/st"
	}
	n=$(flushes hold --status not_sent --status failed)
	check "bulk hold of 220: all held" "$(count hold) $(count new) $(count failed) $(tail -1 "$T/out")" \
		"220 0 0 220 message receivers held."
	# new/, failed/, hold/ and the audit once each: 4 (before: 2 a receiver and the audit).
	[ "$n" -ge 1 ] && [ "$n" -le 4 ] && ok "bulk hold of 220: $n flushes" || fail "bulk hold of 220: $n flushes, want 1 to 4"
	check "bulk hold: hold/ flushed first (a rename is durable once its new name is)" "$(first_flush)" hold
	check "bulk hold: an audit line each" "$(grep -c ' hold b[a-z]*[0-9]* \(new\|failed\)/ ' "$T/spool/audit")" 220
	check "bulk hold: a line each printed" "$(grep -c ' -> held$' "$T/out")" 220
	n=$(flushes release $(ls "$T/spool/hold" | sed -n 's/\.yaml$//p' | head -50))
	check "release of 50 ids: released" "$(count new) $(count hold)" "50 170"
	check "release: new/ flushed first" "$(first_flush)" new
	# hold/, new/ and the audit: 3
	[ "$n" -ge 1 ] && [ "$n" -le 3 ] && ok "release of 50 ids: $n flushes" || fail "release of 50 ids: $n flushes, want 1 to 3"
	n=$(flushes delete --yes --status held)
	check "bulk delete of 170: deleted" "$(count hold) $(count new)" "0 50"
	# hold/ and the audit: 2 (before: every status delete may take, and the audit)
	[ "$n" -ge 1 ] && [ "$n" -le 2 ] && ok "bulk delete of 170: $n flushes" || fail "bulk delete of 170: $n flushes, want 1 to 2"
	check "bulk delete: an audit line each" "$(grep -c ' delete b[a-z]*[0-9]* hold/ ' "$T/spool/audit")" 170
fi

# --- msgspoold never sends from hold/ (a real SMTP server) ---
rm -f "$T"/spool/*/*.yaml
start_smtpd main --delay 0.002 || exit 1
smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: root\n  idle_close: 1\n  rescan_interval: 2\n')"
h1=$(enq held1@example.com "Held one"); h2=$(enq held2@example.com "Held two")
ms hold "$h1" "$h2" >/dev/null
start_daemon d1 || { fail "daemon did not start: $(cat "$T/d1.dlog")"; finish; exit 1; }
produce 20 free
wait_until 30 count_is sent 20 && ok "the daemon sent new/" || fail "sent=$(count sent) new=$(count new)"
sleep 3 # past a rescan: it does not look in hold/ then either
check "held ones still held, none arrived" "$(count hold) $(grep -l '^To: held' "$OUT"/*.eml 2>/dev/null | wc -l)" "2 0"
# A hold racing the daemon: the receiver ends up either sent or held, once.
h3=$(enq held3@example.com "Held three"); ms hold "$h3" >/dev/null 2>&1
wait_until 10 sh -c "test -f '$T/spool/hold/$h3.yaml' || test -f '$T/spool/sent/$h3.yaml'"
check "a hold racing the daemon: in one place" "$(find "$T/spool" -name "$h3.yaml" | sed "s|$T/spool/||;s|/.*||")" \
	"$(test -f "$T/spool/hold/$h3.yaml" && echo hold || echo sent)"
mv "$T/spool/hold/$h1.yaml" "$T/spool/new/"
wait_until 10 test -f "$T/spool/sent/$h1.yaml" && ok "mv out of hold/: sent" || fail "mv'd $h1 not sent"
check_rc "release while the daemon runs" 0 ms release "$h2"
wait_until 10 test -f "$T/spool/sent/$h2.yaml" && ok "released: sent" || fail "released $h2 not sent"
check "each held one arrived once, after release" "$(grep -l '^To: held[12]@' "$OUT"/*.eml | wc -l)" 2

finish
