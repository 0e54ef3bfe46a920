#!/bin/bash
# cron: honest output for cron: every command that changes the queue takes
# --dry-run (says what it would do, changes nothing) and --quiet (prints
# nothing when nothing was done, Devilry's lines otherwise); send, resend
# and resend-failed exit 75 when a receiver was not sent. Against a real
# SMTP server on 127.0.0.1.
. "${top_srcdir:-.}/tests/lib.sh"
start_smtpd main || exit 1
LIMIT=3 smtp_conf "$PORT"
ms init >/dev/null
tree() { find "$T/spool" -name '*.yaml' -printf '%P\n' | sort | tr '\n' ' '; }

# --- send ---
check_rc "send --quiet, nothing to send" 0 ms send --quiet
check "send --quiet prints nothing when nothing was sent" "$(cat "$T/out" "$T/err")" ""
check_rc "send, nothing to send" 0 ms send
check "send says 0 without --quiet" "$(cat "$T/out")" "0 sent, 0 failed, 0 error, 0 quarantined"
a=$(enq ok1@example.com); b=$(enq temp451@example.com); c=$(enq ok2@example.com)
before=$(tree)
check_rc "send --dry-run" 0 ms send --dry-run
check "send --dry-run lists what it would send" "$(cat "$T/out")" "$(printf '%s: would be sent to %s (dry run)\n' "$a" ok1@example.com "$b" temp451@example.com "$c" ok2@example.com)
Would send 3 message receivers."
check "send --dry-run changes nothing" "$(tree)" "$before"
check "send --dry-run sends nothing" "$(mails)" 0
check_rc "send with a receiver that fails exits 75" 75 ms send --quiet
check "send prints its line when something was done" "$(cat "$T/out")" "2 sent, 1 failed, 0 error, 0 quarantined"
check "the failure is in failed/" "$(status_of "$b")" failed

# --- send --dry-run says what send does with a scheduled and an expired receiver ---
later=$(printf 'Hi\n' | ms enqueue --to later@example.com --subject S --text-file - --send-after 2099-01-01T00:00:00Z)
gone=$(printf 'Hi\n' | ms enqueue --to gone@example.com --subject S --text-file - --expires-at 2001-01-01T00:00:00Z)
check_rc "send --dry-run, a scheduled and an expired receiver" 0 ms send --dry-run
check_contains "send --dry-run: the scheduled one waits" "$(cat "$T/out")" "$later: would wait: send_after is "
check_contains "send --dry-run: the expired one would go to error/" "$(cat "$T/out")" "$gone: would be moved to error/: expired at "
check_contains "send --dry-run: neither would be sent" "$(cat "$T/out")" "Would send 0 message receivers."
check_rc "send: the expired one is not sent (exit 75)" 75 ms send
check "send: as the dry run said" "$(cat "$T/out"):$(status_of "$later"):$(status_of "$gone")" "0 sent, 0 failed, 1 error, 0 quarantined:not_sent:error"
check_rc "send --quiet, only a receiver scheduled for later" 0 ms send --quiet
check "send --quiet prints nothing when it only passed over a scheduled one" "$(cat "$T/out" "$T/err")" ""
ms delete --yes "$later" "$gone" >/dev/null

# --- resend-failed ---
check_rc "resend-failed --dry-run" 0 ms resend-failed --dry-run
check "resend-failed --dry-run says what it would do" "$(cat "$T/out")" "$b: would be resent (failed 1 times) (dry run)
1 messages would be automatically resent.
0 messages has exceeded the retry limit (current limit: 3)"
check "resend-failed --dry-run changes nothing" "$(status_of "$b"):$(field "$b" sending_failed_count)" "failed:1"
check_rc "resend-failed with a receiver failing again exits 75" 75 ms resend-failed --quiet
check "resend-failed prints Devilry's lines" "$(cat "$T/out")" "1 messages were automatically resent.
0 messages has exceeded the retry limit (current limit: 3)"
ms delete --yes "$b" >/dev/null
check_rc "resend-failed --quiet, nothing to resend" 0 ms resend-failed --quiet
check "resend-failed --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""

# --- resend ---
check_rc "resend --dry-run by id" 0 ms resend --dry-run "$a"
check "resend --dry-run says what it would do" "$(cat "$T/out")" "$a: would be resent (sent) (dry run)"
check_rc "resend --dry-run by filter asks nothing" 0 ms resend --dry-run --status sent < /dev/null
check "resend --dry-run by filter lists" "$(cat "$T/out")" "$(printf '%s: would be resent (sent) (dry run)\n' "$a" "$c")
2 message receivers would be resent."
check "resend --dry-run sends nothing" "$(mails):$(field "$a" sending_success_count)" "2:1"
check_rc "resend --quiet with no match" 0 ms resend --quiet --yes --status error
check "resend --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""
d=$(enq perm550@example.com)
check_rc "resend of a receiver that fails exits 75" 75 ms resend "$d"
check "resend says it" "$(cat "$T/out")" "$d: failed"

# --- delete-receivers and delete-messages-without-receivers ---
check_rc "delete-receivers --quiet, nothing old" 0 ms delete-receivers --quiet 1
check "delete-receivers --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""
check_rc "delete-receivers, nothing old" 0 ms delete-receivers 1
check "delete-receivers prints Devilry's line" "$(cat "$T/out")" "Deleting 0 message receivers."
printf 'msgspool: 1\nsend_to: old@example.com\nsubject: Old\ntext: x\ncreated: "%s"\n' "$(date -u -d '3 days ago' +%FT%TZ)" > "$T/spool/sent/old.yaml"
check_rc "delete-receivers --dry-run --quiet, one to delete" 0 ms delete-receivers --dry-run --quiet 1
check "delete-receivers --dry-run --quiet says what it would do" "$(cat "$T/out")" "Would delete 1 message receivers."
check "delete-receivers --dry-run deleted nothing" "$(ls "$T/spool/sent" | grep -c old)" 1
check_rc "delete-messages-without-receivers --quiet" 0 ms delete-messages-without-receivers --quiet
check "delete-messages --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""
mkdir -p "$T/spool/messages"; echo 'msgspool: 1' > "$T/spool/messages/m1.yaml"; touch -d '2 hours ago' "$T/spool/messages/m1.yaml"
check_rc "delete-messages-without-receivers --quiet, one to delete" 0 ms delete-messages-without-receivers --quiet
check "delete-messages prints Devilry's line when it did something" "$(cat "$T/out")" "Deleting 1 messages with no message receivers."
check_rc "delete-receivers -n -q, as every command takes them" 0 ms delete-receivers -n -q 1
check "delete-receivers -n -q says what it would do" "$(cat "$T/out")" "Would delete 1 message receivers."
check "delete-receivers: no audit line for a dry run or for nothing deleted" "$(grep -c ' delete-receivers ' "$T/spool/audit")" 0
check_rc "delete-receivers --quiet, one to delete" 0 env -u SUDO_USER -u SUDO_UID "$BLD/msgspool" delete-receivers --quiet 1
check "delete-receivers: one summary line, the count in ID's place" "$(grep ' delete-receivers ' "$T/spool/audit" | cut -d' ' -f2-)" "delete-receivers 1 - $(id -un) cli"
printf 'msgspool: 1\nsend_to: old@example.com\nsubject: Old\ntext: x\ncreated: "%s"\n' "$(date -u -d '3 days ago' +%FT%TZ)" > "$T/spool/sent/old.yaml"
check_rc "delete-messages-without-receivers -n -q" 0 ms delete-messages-without-receivers -n -q
check "delete-messages -n -q prints nothing when nothing is left" "$(cat "$T/out" "$T/err")" ""

# --- enqueue and compose: --dry-run writes nothing, --quiet is silent on a repeat ---
before=$(tree)
check_rc "enqueue --dry-run" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue --dry-run --to dry@example.com --subject S --text-file -"
check_contains "enqueue --dry-run prints the id" "$(cat "$T/out")" "(dry run: nothing written)"
check "enqueue --dry-run wrote nothing" "$(tree)" "$before"
check_rc "enqueue --dry-run still checks" 64 ms enqueue --dry-run --to dry@example.com --subject S
check_rc "enqueue -n, as its help says" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue -n --to dry@example.com --subject S --text-file -"
check "enqueue -n wrote nothing" "$(tree)" "$before"
check_rc "enqueue -q --key, as its help says" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue -q -n --key k0 --to q@example.com --subject S --text-file -"
check_rc "enqueue --key --quiet" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue --quiet --key k1 --to q@example.com --subject S --text-file -"
kid=$(cat "$T/out")
check_rc "enqueue --key --quiet, again" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue --quiet --key k1 --to q@example.com --subject S --text-file -"
check "a repeat with --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""
check_rc "enqueue --key --dry-run of a used key" 0 sh -c "printf 'Hi\n' | '$BLD/msgspool' enqueue --dry-run --key k1 --to q@example.com --subject S --text-file -"
check_contains "says the key was used" "$(cat "$T/err")" "nothing would be written"
printf 'msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: S, text: Hi}\nreceivers:\n  - {send_to: c1@example.com}\n  - {send_to: c2@example.com}\n' > "$T/msg.yaml"
before=$(tree)
check_rc "compose --dry-run" 0 ms compose --dry-run "$T/msg.yaml"
check_contains "compose --dry-run counts" "$(cat "$T/out")" " 2 receivers (dry run: nothing written)"
check "compose --dry-run wrote nothing" "$(tree)|$(ls "$T/spool/tmp" | grep -v '^pool\.')" "$before|"
printf 'msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: S}\nreceivers:\n  - {send_to: c1@example.com}\n' > "$T/bad.yaml"
check_rc "compose --dry-run still finds errors" 65 ms compose --dry-run "$T/bad.yaml"
check_rc "compose --key --quiet" 0 ms compose --quiet --key m1 "$T/msg.yaml"
check_rc "compose --key --quiet, again" 0 ms compose --quiet --key m1 "$T/msg.yaml"
check "a repeat compose with --quiet prints nothing" "$(cat "$T/out" "$T/err")" ""

# --- delete-receivers over many files: progress on a terminal, none when piped ---
py - "$T/spool/sent" <<'PY'
import sys
for i in range(2100):
    open("%s/many%05d.yaml" % (sys.argv[1], i), "w").write('msgspool: 1\nsend_to: m@example.com\nsubject: s\ntext: x\ncreated: "2020-01-01T00:00:00Z"\n')
PY
cp -a "$T/spool" "$T/spool.many"
script -qc "'$BLD/msgspool' delete-receivers 1" /dev/null > "$T/tty.out" < /dev/null
check_contains "progress while deleting, on a terminal" "$(cat "$T/tty.out")" "deleting 2048 files"
check_contains "then Devilry's line" "$(cat "$T/tty.out")" "Deleting 2101 message receivers."
rm -rf "$T/spool"; mv "$T/spool.many" "$T/spool"
check_rc "delete-receivers piped" 0 ms delete-receivers 1
check "no progress when not on a terminal" "$(cat "$T/err")" ""
check "every old one deleted, today's kept" "$(count sent)" 2

# --- delete-receivers with no list cache, over more files than it reads
# ahead (4096) in two statuses, with a producer's FIFO and link among them:
# every old one deleted and no other, the FIFO and the link left alone
# (never followed, never blocked on), the files read ahead of the scan
# (posix_fadvise, counted with strace) only when there is no cache ---
mkold() { # DIR PREFIX N CREATED
	py - "$1" "$2" "$3" "$4" <<'PY'
import sys
d, p, n, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for i in range(n):
    open("%s/%s%05d.yaml" % (d, p, i), "w").write('msgspool: 1\nsend_to: m@example.com\nsubject: s\ntext: x\ncreated: "%s"\n' % c)
PY
}
mkold "$T/spool/sent" old 9000 2020-01-01T00:00:00Z
mkold "$T/spool/error" old 1000 2020-01-01T00:00:00Z
mkold "$T/spool/sent" young 5 "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkfifo "$T/spool/sent/fifo.yaml"
mkold "$T" outside 1 2020-01-01T00:00:00Z
ln -s "$T/outside00000.yaml" "$T/spool/sent/link.yaml"
sum=$(md5sum < "$T/outside00000.yaml")
rm -f "$T/spool/.list-cache"
cp -a "$T/spool" "$T/spool.keep"
# Out of memory, as after a reboot: their pages dropped (not on a tmpfs,
# where nothing is read from a disk and nothing is read ahead after the
# first 4096).
sync
py - "$T/spool" <<'PY'
import os, sys
for d in ("sent", "error"):
    for n in os.listdir(os.path.join(sys.argv[1], d)):
        p = os.path.join(sys.argv[1], d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
PY
# LeakSanitizer cannot run under ptrace (the ASan build aborts at exit,
# 134): the commands traced here are leak-checked everywhere else.
NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
if command -v strace >/dev/null; then
	check_rc "delete-receivers, no cache, 10,000 old" 0 timeout 120 env "$NOLEAK" strace -f -qq -e trace=fadvise64 -o "$T/fadv" "$BLD/msgspool" delete-receivers 1
	n=$(grep -c '^[0-9]* *fadvise64(.*POSIX_FADV_WILLNEED' "$T/fadv")
	# The 10,005 regular files of sent/ and error/ and those the tests
	# above left, never the FIFO or the link; on a tmpfs the first 4096.
	if [ "$(stat -f -c %T "$T")" = tmpfs ]; then
		[ "$n" -ge 4090 ] && [ "$n" -le 4096 ] && ok "a tmpfs: the first 4096 read ahead, then none ($n)" || fail "a tmpfs: $n read ahead, want the first 4096"
	else
		[ "$n" -ge 10005 ] && [ "$n" -le 10100 ] && ok "the files read ahead of the scan ($n)" || fail "the files read ahead of the scan: $n, want 10005 to 10100"
	fi
else
	check_rc "delete-receivers, no cache, 10,000 old" 0 timeout 120 "$BLD/msgspool" delete-receivers 1
fi
check "Devilry's line, all counted" "$(cat "$T/out")" "Deleting 10000 message receivers."
check "every old one deleted" "$(ls "$T/spool/sent" "$T/spool/error" | grep -c '^old')" 0
check "the young ones kept" "$(ls "$T/spool/sent" | grep -c '^young')" 5
check "the FIFO left alone" "$(test -p "$T/spool/sent/fifo.yaml" && echo fifo)" fifo
check "the link left alone, its target untouched" "$(test -L "$T/spool/sent/link.yaml" && md5sum < "$T/outside00000.yaml")" "$sum"
check "one audit line for them" "$(grep -c ' delete-receivers 10000 - ' "$T/spool/audit")" 1
if command -v strace >/dev/null; then
	rm -rf "$T/spool"; cp -a "$T/spool.keep" "$T/spool"
	ms list --limit 1 >/dev/null
	check_rc "delete-receivers with the list cache" 0 timeout 120 env "$NOLEAK" strace -f -qq -e trace=fadvise64 -o "$T/fadv" "$BLD/msgspool" delete-receivers 1
	check "with the cache, nothing read ahead" "$(grep -c 'fadvise64(' "$T/fadv")" 0
	# No cache, but the files in memory (read just now): the first 4096
	# asked for, then no more.
	rm -rf "$T/spool"; cp -a "$T/spool.keep" "$T/spool"
	cat "$T"/spool/sent/old* > /dev/null
	check_rc "delete-receivers, no cache, files in memory" 0 timeout 120 env "$NOLEAK" strace -f -qq -e trace=fadvise64 -o "$T/fadv" "$BLD/msgspool" delete-receivers 1
	n=$(grep -c "fadvise64(" "$T/fadv")
	[ "$n" -ge 4090 ] && [ "$n" -le 4096 ] && ok "files in memory: only the first 4096 read ahead ($n)" || fail "files in memory: $n read ahead, want the first 4096 (less the FIFO and the link)"
	check "with the cache, the same deleted" "$(cat "$T/out") $(ls "$T/spool/sent" "$T/spool/error" | grep -c '^old')" "Deleting 10000 message receivers. 0"
fi

finish
