#!/bin/bash
# faults: what production throws at a mail queue. Network faults against a
# scripted server (garbage replies, 421 mid-session, silence after the data,
# a TLS handshake with a plain server); a full disk (a tiny tmpfs) and a
# read-only spool; kill -9 at each file-system step of send, resend-failed
# and compose; hostile files (FIFO, device, hard link, huge, odd names)
# under the daemon. After each: every receiver readable, in exactly one
# status directory, and the work completes.
. "${top_srcdir:-.}/tests/lib.sh"

# Every receiver file parses and no id is in two directories.
spool_sane() {
	py - "$T/spool" <<'PY'
import os, sys, collections
root = sys.argv[1]
seen = collections.Counter()
for d in ("new", "active", "failed", "error", "sent"):
    for f in os.listdir(os.path.join(root, d)):
        if f.endswith(".yaml") and not f.startswith("."):
            seen[f] += 1
            txt = open(os.path.join(root, d, f), encoding="utf-8").read()
            assert txt.startswith("msgspool: 1"), (d, f, txt[:40])
dups = [f for f, n in seen.items() if n > 1]
assert not dups, dups
print(sum(seen.values()))
PY
}

start_smtpd main || exit 1
smtp_conf "$PORT"
ms init >/dev/null

# --- network faults: each a recorded failure with its transcript ---
err_of() { ms show --json "$1" | py -c 'import json,sys; e=json.load(sys.stdin)["errors"][-1]; print(e["error"]); print(e["transcript"])'; }
g=$(enq garbage@example.com); b=$(enq bye421@example.com); ok1=$(enq after@example.com)
TIMEOUT=2 smtp_conf "$PORT"
ms send >/dev/null 2>&1
check "garbage reply: failed" "$(status_of "$g")" failed
check_contains "garbage reply recorded" "$(err_of "$g")" "hello, this is not SMTP"
check "421 mid-session: failed" "$(status_of "$b")" failed
check_contains "421 recorded" "$(err_of "$b")" "421"
check "the next one on a new connection: sent" "$(status_of "$ok1")" sent
s=$(enq slowdata@example.com)
t0=$(date +%s); ms send >/dev/null 2>&1; e=$(( $(date +%s) - t0 ))
[ $e -le 8 ] && ok "silence after the data ends within the timeout ($e s)" || fail "silence after data took $e s"
check "silence after the data: failed, not sent" "$(status_of "$s")" failed
check_contains "silence recorded with transcript" "$(err_of "$s")" ">>> (message,"
TIMEOUT=2 smtp_conf "$PORT" "  tls: tls"
x=$(enq x@example.com)
t0=$(date +%s); check_rc "TLS handshake with a plain server" 75 ms send; e=$(( $(date +%s) - t0 ))
[ $e -le 8 ] && ok "TLS handshake failure ends within the timeout ($e s)" || fail "TLS failure took $e s"
check "TLS failure: receiver untouched in new/" "$(status_of "$x")" not_sent
check "spool sane after network faults" "$(spool_sane)" 5
smtp_conf "$PORT"
ms send >/dev/null

# --- kill -9 at each file-system step, then a run completes the work ---
for point in deliver-claimed deliver-after-250 commit-between-renames; do
	rm -f "$T"/spool/*/*.yaml "$OUT"/*
	for i in 1 2 3; do enq "crash$i@example.com" >/dev/null; done
	MSGSPOOL_TEST_STOP=$point ms send >/dev/null 2>&1
	check "send killed at $point: exit like a kill" "$?" 99
	check "killed at $point: every receiver readable, once" "$(spool_sane)" 3
	ms list >/dev/null 2>&1 && ok "list works after a kill at $point" || fail "list fails after kill at $point"
	check_rc "rerun after a kill at $point" 0 ms send
	check "killed at $point: all three sent" "$(count sent)" 3
	check "killed at $point: active/ empty" "$(count active)" 0
	dup=$(( $(received) - 3 ))
	echo "# kill at $point: $dup duplicate(s) at the server"
	case $point in
	deliver-after-250) [ $dup -le 1 ] && ok "after the 250: at most the one in flight again ($dup)" || fail "$dup duplicates" ;;
	*) check "killed at $point: no duplicate" "$dup" 0 ;;
	esac
done
# resend-failed killed between the renames of its commit.
rm -f "$T"/spool/*/*.yaml
for i in 1 2; do
	id=$(printf 'msgspool: 1\nsend_to: rf%s@example.com\nsubject: s\ntext: x\nsending_failed_count: 1\n' "$i" | ms enqueue -)
	mv "$T/spool/new/$id.yaml" "$T/spool/failed/"
done
MSGSPOOL_TEST_STOP=commit-between-renames ms resend-failed >/dev/null 2>&1
check "resend-failed killed mid-commit: readable, once" "$(spool_sane)" 2
ms send >/dev/null 2>&1; ms resend-failed >/dev/null 2>&1
check "resend-failed killed: work completes" "$(count sent)" 2

# --- a full disk: attempts keep their receiver, nothing half-written ---
if mkdir -p "$T/small" && mount -t tmpfs -o size=256k tmpfs "$T/small" 2>/dev/null; then
	cat > "$T/small.yaml" <<Y
spool: $T/small/spool
transport: smtp
from: "Devilry <noreply@example.org>"
smtp: {host: 127.0.0.1, port: $PORT, timeout: 3, helo: client.test.example}
daemon: {user: root, idle_close: 1, rescan_interval: 2}
Y
	ms -c "$T/small.yaml" init >/dev/null
	for i in $(seq 20); do printf 'msgspool: 1\nsend_to: full%s@example.com\nsubject: s\ntext: x\n' "$i" > "$T/small/spool/new/f$i.yaml"; done
	# Fill the disk to the last byte.
	dd if=/dev/zero of="$T/small/filler" bs=4k 2>/dev/null
	"$BLD/msgspoold" -c "$T/small.yaml" --foreground > "$T/full.dlog" 2>&1 &
	FP=$!; PIDS="$PIDS $FP"
	sleep 3
	check_contains "full disk: logged with the path" "$(cat "$T/full.dlog")" "$T/small/spool"
	check_contains "full disk: backs off" "$(cat "$T/full.dlog")" "spool not writable"
	kill -0 $FP && ok "full disk: daemon alive" || fail "full disk: daemon died"
	n=$(py - "$T/small/spool" <<'PY'
import os, sys
r = sys.argv[1]; n = 0
for d in ("new", "active", "sent", "failed", "error"):
    for f in os.listdir(os.path.join(r, d)):
        t = open(os.path.join(r, d, f)).read()
        assert t.startswith("msgspool: 1"), (d, f, t[:30])
        n += 1
print(n)
PY
)
	check "full disk: every receiver readable, none lost" "$n" 20
	rm -f "$T/small/filler"
	wait_until 60 test "$(ls "$T/small/spool/sent" | wc -l)" = 20 2>/dev/null
	s=$(ls "$T/small/spool/sent" | wc -l)
	check "space back: all sent" "$s" 20
	kill -TERM $FP; wait $FP
	umount "$T/small"
else
	fail "cannot mount a tmpfs for the full-disk test (needs root)"
fi

# --- a read-only spool: refused with the path, nothing changes ---
rm -f "$T"/spool/*/*.yaml
enq ro@example.com >/dev/null
mount --bind "$T/spool" "$T/spool" && mount -o remount,bind,ro "$T/spool"
check_rc "send on a read-only spool" 74 ms send
check_contains "read-only: the path and the reason" "$(cat "$T/err")" "Read-only file system"
umount "$T/spool"
check "read-only: receiver still in new/" "$(count new)" 1
ms send >/dev/null; check "writable again: sent" "$(count sent)" 1

# --- sent/ cannot be entered (another mount): the daemon records nothing, ---
# --- leaks no descriptor, and recovery finishes the work later ---
rm -f "$T"/spool/*/*.yaml
smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: root\n  rescan_interval: 1')"
rm -f "$OUT"/*
mount --bind "$T/spool/sent" "$T/spool/sent"
start_daemon nosent || fail "daemon did not start"
produce 20 nosent
# The first failures make the workers back off (spool not writable): not
# all 20 are tried while this test waits, and need not be.
wait_until 20 count_at_least active 5 && ok "sent/ on another mount: receivers stay in active/" || fail "nosent: active=$(count active) new=$(count new)"
sleep 1
n=$(count active)
check "sent/ on another mount: each tried once, sent once" "$(received)" "$n"
check "sent/ on another mount: logged with the reason" "$(grep -c 'left in active/ for recovery: Invalid cross-device link' "$T/nosent.dlog")" "$n"
check_contains "sent/ on another mount: backs off" "$(cat "$T/nosent.dlog")" "spool not writable"
unlocked=$(py - "$T/spool/active" <<'PY'
import fcntl, os, sys
d = sys.argv[1]; n = 0
for f in os.listdir(d):
    with open(os.path.join(d, f)) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB); n += 1
        except OSError:
            pass
print(n)
PY
)
check "left in active/ unlocked (no claim kept open)" "$unlocked" "$n"
kill -TERM $DPID; wait $DPID
umount "$T/spool/sent"
ms send >/dev/null 2>&1
check "recovery: all in sent/" "$(count sent)" 20
check "recovery: the ones sent keep their record" "$(grep -l 'outcome: sent' "$T"/spool/sent/*.yaml | wc -l)" 20
check "recovery: none sent twice" "$(received_distinct):$(received)" "20:20"

# --- hostile files under the daemon: quarantined or ignored, never blocking ---
rm -f "$T"/spool/*/*.yaml
smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: root\n  rescan_interval: 1\nmax_receiver_size: 100000')"
mkfifo "$T/spool/new/fifo.yaml"
mknod "$T/spool/new/dev.yaml" c 1 3
printf 'msgspool: 1\nsend_to: secret@example.com\nsubject: s\ntext: TOPSECRET\n' > "$T/secret"
ln "$T/secret" "$T/spool/new/hardlink.yaml"
py -c 'print("msgspool: 1\nsend_to: a@example.com\nsubject: big\ntext: " + "x" * 200000)' > "$T/spool/new/huge.yaml"
printf 'msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\n' | tee "$T/spool/new/odd name.yaml" "$T/spool/new/nöt-ascii.yaml" "$T/spool/new/.hidden.yaml" > "$T/spool/new/trailing.yaml~"
printf 'msgspool: 1\nsend_to: "a@example.com\\nRCPT TO:<evil@example.com>"\nsubject: s\ntext: x\n' > "$T/spool/new/inject.yaml"
# What a power cut leaves of a write and rename whose tmp/ side was not
# flushed: one receiver under two names, one of them in tmp/.
printf 'msgspool: 1\nsend_to: leftover@example.com\nsubject: s\ntext: x\n' > "$T/spool/new/leftover.yaml"
ln "$T/spool/new/leftover.yaml" "$T/spool/tmp/leftover.yaml.1234.aabbccddeeff.tmp"
touch -d '1 minute ago' "$T"/spool/new/*.yaml
rm -f "$OUT"/*
start_daemon hostile || fail "daemon did not start"
produce 5 good
wait_until 20 count_is sent 6 && ok "good receivers sent past hostile files" || fail "good ones: sent=$(count sent)"
check "one with a second name in tmp/ is sent, not quarantined" "$(ls "$T/spool/sent" | grep -c '^leftover.yaml$')" 1
check "and its name in tmp/ is gone" "$(ls "$T/spool/tmp" | grep -c leftover)" 0
check_contains "and the log says so" "$(cat "$T/hostile.dlog")" "leftover.yaml: a second name in tmp/ (a write cut short) removed"
wait_until 10 test -e "$T/spool/corrupt/fifo.yaml" || true
check "quarantined" "$(ls "$T/spool/corrupt" | sort | tr '\n' ' ')" "dev.yaml fifo.yaml hardlink.yaml huge.yaml inject.yaml "
check "odd names left alone" "$(ls -A "$T/spool/new" | sort | tr '\n' '|')" ".hidden.yaml|nöt-ascii.yaml|odd name.yaml|trailing.yaml~|"
check "nothing but the good ones reached the server" "$(received)" 6
grep -q TOPSECRET "$OUT"/*.eml && fail "a hard-linked file was sent" || ok "hard-linked file not sent"
grep -q "evil@" "$OUT"/*.env && fail "injection reached the server" || ok "no injected recipient"
check_contains "FIFO reason" "$(cat "$T/hostile.dlog")" "fifo.yaml: quarantined into corrupt/: not a regular file"
check_contains "hard link reason" "$(cat "$T/hostile.dlog")" "hardlink.yaml: quarantined into corrupt/: has other hard links"
check_contains "size reason" "$(cat "$T/hostile.dlog")" "huge.yaml: quarantined into corrupt/: larger than max_receiver_size"
kill -0 $DPID && ok "daemon survived" || fail "daemon died"
kill -TERM $DPID; wait $DPID

# --- privileges: producers write new/ through a group, nothing else ---
P=$(mktemp -d /tmp/msgspool-priv.XXXXXX); chmod 755 "$P"
groupadd -f msgspooltest; id msgprod >/dev/null 2>&1 || useradd -M -N -g nogroup -G msgspooltest -s /bin/sh msgprod
ms --spool "$P/spool" init --group msgspooltest >/dev/null
check "nothing world-writable" "$(find "$P/spool" -perm -o+w | wc -l)" 0
printf 'spool: %s/spool\n' "$P" > "$P/c.yaml"; chmod 644 "$P/c.yaml"
# The build tree may sit where msgprod cannot reach (a 0700 temporary
# directory): run a copy of the program from $P.
cp "$BLD/msgspool" "$P/msgspool"; chmod 755 "$P/msgspool"
su msgprod -s /bin/sh -c "printf 'Hi\n' | '$P/msgspool' -c '$P/c.yaml' enqueue --to a@example.com --subject s --text-file -" > "$T/o" 2>&1
check "producer in the group can enqueue" "$(ls "$P/spool/new" | wc -l)" 1
su msgprod -s /bin/sh -c "touch '$P/spool/sent/x.yaml'" 2>/dev/null && fail "producer wrote sent/" || ok "producer cannot write sent/"
su msgprod -s /bin/sh -c "'$P/msgspool' -c '$P/c.yaml' delete-receivers 0" > "$T/o" 2>&1
check "not the owner: delete refused" "$?" 77
check_contains "says whose it is" "$(cat "$T/o")" "run this as the spool's owner"
rm -rf "$P"
finish
