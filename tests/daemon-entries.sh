#!/bin/bash
# daemon-entries: what msgspoold does with entries of new/ it cannot or
# must not send: files it cannot open, directories, sockets, hard links
# (quarantined at once with the reason, no shared backoff), files still
# being written, and names that are not receivers (logged once each).
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd main || exit 1
# A spool owned by nobody and a daemon that becomes nobody: root's own
# files in new/ are then what a producer with another uid leaves there.
P=$(mktemp -d /tmp/msgspool-ent.XXXXXX); chmod 755 "$P"
PIDS_CLEAN="$P"
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T" "$P"' EXIT
S="$P/spool"
smtp_conf "$PORT" "" "$(printf 'daemon:\n  user: nobody\n  idle_close: 1\n  rescan_interval: 2\n')"
sed -i "s|^spool: .*|spool: $S|" "$MSGSPOOL_CONFIG"
chmod 644 "$MSGSPOOL_CONFIG"
ms init >/dev/null; chown -R nobody "$S"
pcount() { find "$S/$1" -maxdepth 1 -name '*.yaml' | wc -l | tr -d ' '; }
pcount_is() { [ "$(pcount "$1")" = "$2" ]; }
good() { # NAME: a receiver written by nobody the producer's way
	printf 'msgspool: 1\nsend_to: %s@example.com\nsubject: s\ntext: x\n' "$1" > "$S/tmp/$1.yaml"
	chown nobody "$S/tmp/$1.yaml"; mv "$S/tmp/$1.yaml" "$S/new/"
}

# --- 19.5: entries the daemon cannot open are quarantined at once ---
printf 'msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\n' > "$S/new/private.yaml"
chmod 600 "$S/new/private.yaml"                      # root's, 0600: unreadable for nobody
mkdir "$S/new/d.yaml"                                # a directory we cannot move
mkdir "$S/new/d2.yaml"; chown nobody "$S/new/d2.yaml"  # a directory we can
py -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$S/new/sock.yaml"
printf 'secret\n' > "$P/rootfile"; chmod 600 "$P/rootfile"
ln "$P/rootfile" "$S/new/link.yaml"                  # a root-owned hard link
start_daemon e1 || { fail "daemon did not start: $(cat "$T/e1.dlog")"; finish; exit 1; }
good first
wait_until 10 pcount_is corrupt 4 && ok "unopenable entries quarantined at once" ||
	fail "corrupt/ has $(ls "$S/corrupt" | tr '\n' ' '); new/ has $(ls "$S/new" | tr '\n' ' ')"
wait_until 5 test -f "$S/sent/first.yaml" && ok "a good receiver beside them is sent at once" ||
	fail "first.yaml not sent: $(ls "$S/new")"
log=$(cat "$T/e1.dlog")
check_contains "0600 file: reason logged" "$log" "new/private.yaml: quarantined into corrupt/: cannot be opened (Permission denied"
check_contains "0600 file: owner and mode logged" "$log" "owner uid 0, mode 0600"
check_contains "directory: reason logged" "$log" "new/d2.yaml: quarantined into corrupt/: not a regular file (a directory)"
check_contains "root's directory: cannot be moved, said" "$log" "new/d.yaml: not a regular file (a directory), and cannot be moved into corrupt/: Permission denied; left where it is, never sent"
sleep 5 # two rescans
check "root's directory: logged once, not retried in a loop" "$(grep -c 'new/d.yaml' "$T/e1.dlog")" 1
chown nobody "$S/new/d.yaml"   # the admin gives it to the daemon: tried again, and moved
wait_until 10 test -d "$S/corrupt/d.yaml" && ok "a stuck entry that changed is looked at again" ||
	fail "d.yaml still in new/ after chown"
check_contains "socket: reason logged" "$log" "new/sock.yaml: quarantined into corrupt/: not a regular file (a socket)"
check_contains "hard link: reason logged" "$log" "new/link.yaml: quarantined into corrupt/: "
check "no shared backoff for them" "$(grep -c 'spool not writable\|next try in' "$T/e1.dlog")" 0
check "the hard-linked file is untouched" "$(cat "$P/rootfile")" "secret"
kill -TERM $DPID; wait $DPID

# --- 19.5: enqueue writes a file the daemon can read, whatever the umask ---
id=$(umask 077; printf 'x\n' | ms enqueue --to u@example.com --subject s --text-file -)
check "enqueue under umask 077: mode 0640" "$(stat -c %a "$S/new/$id.yaml")" 640

# --- 19.8: a file written in place is sent whole, never its first half ---
# A writer that keeps the file open and writes its second half seconds
# later, while rescans (every 2 s) find the first half, which parses.
inplace() { # NAME PAUSE STEP OWNER: writes NAME in new/ in place, in two halves
	py - "$S/new/$1.yaml" "$2" "$3" "$4" <<'PY'
import os, pwd, sys, time
path, pause, step, owner = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
with open(path, "w") as f:
    os.fchown(f.fileno(), pwd.getpwnam(owner).pw_uid, -1)
    f.write("msgspool: 1\nsend_to: inplace@example.com\nsubject: in place\ntext: |\n  first half\n")
    f.flush()
    t = time.monotonic()
    while time.monotonic() - t < pause:   # still writing: a line every `step` s
        time.sleep(step)
        if step < pause:
            f.write("  .\n"); f.flush()
    f.write("  second half\n")
PY
}
rm -f "$OUT"/*
start_daemon e2 || fail "e2 did not start"
# The daemon's own file, silent for 5 s while open: a read lease tells.
inplace slow 5 10 nobody
wait_until 10 test -f "$S/sent/slow.yaml" && ok "in place: sent once closed" || fail "in place: not sent: $(ls "$S/new" "$S/active")"
inplace_body() { # the decoded text of the in-place mails, by Python's email package
	for f in $(grep -l '^To: inplace@example.com' "$OUT"/*.eml); do
		py "$SRC/tests/parse_mail.py" "$f" | py -c 'import json,sys; print(json.load(sys.stdin)["parts"][0]["body"])'
	done
}
body=$(inplace_body)
check_contains "in place: the whole file was sent" "$body" "second half"
inplace_mails() { grep -l '^To: inplace@example.com' "$OUT"/*.eml 2>/dev/null | wc -l | tr -d ' '; }
check "in place: sent once" "$(inplace_mails)" 1
check_contains "in place: the wait is logged" "$(cat "$T/e2.dlog")" "new/slow.yaml: still being written; another look later"
# 16.4: the second look comes from a timer, within 3 s, not from a rescan.
gaps=$(grep 'slow.yaml: still being written' "$T/e2.dlog" | py -c '
import sys, datetime as D
t = [D.datetime.strptime(l[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp() for l in sys.stdin]
print(len(t), max([b - a for a, b in zip(t, t[1:])] or [99]) <= 3)')
check "in place: looked at again by a timer, within 3 s each time" "$gaps" "$(echo "$gaps" | cut -d" " -f1) True"
check "in place: looked at about once a second, not in a loop" "$(( $(grep -c 'slow.yaml: still being written' "$T/e2.dlog") <= 10 ))" 1
# Another user's file (no lease for the daemon): written every 5 ms for
# 3 s, it is young, and a second look 50 ms later sees it grow. (That look
# is all the daemon has without a lease: a writer descheduled for 50 ms
# fools it. At 20 ms a step the ASan build under a load of 8 was fooled
# once; at 5 ms the writer must miss ten steps in a row.)
rm -f "$OUT"/*
inplace busy 3 0.005 root
wait_until 10 test -f "$S/sent/busy.yaml" && ok "in place, another user's: sent once closed" || fail "busy.yaml not sent"
check_contains "in place, another user's: the whole file was sent" "$(inplace_body)" "second half"
check "in place, another user's: sent once" "$(inplace_mails)" 1
kill -TERM $DPID; wait $DPID

# --- 16.4: no silent corners in new/ ---
for n in x.yml x.yaml.tmp "with space.yaml"; do
	printf 'msgspool: 1\nsend_to: stray@example.com\nsubject: s\ntext: x\n' > "$S/new/$n"; chown nobody "$S/new/$n"
done
rm -f "$OUT"/*
start_daemon e4 || fail "e4 did not start"
printf 'msgspool: 1\nsend_to: stray@example.com\nsubject: s\ntext: x\n' > "$S/tmp/late.yml"; chown nobody "$S/tmp/late.yml"
mv "$S/tmp/late.yml" "$S/new/"
# A malformed receiver renamed into new/ (complete: nobody writes it) is
# quarantined at its first look, young as it is.
printf 'not: [yaml\n' > "$S/tmp/bad-now.yaml"; chown nobody "$S/tmp/bad-now.yaml"
mv "$S/tmp/bad-now.yaml" "$S/new/"
wait_until 10 test -f "$S/corrupt/bad-now.yaml" && ok "malformed renamed into new/: quarantined" || fail "bad-now.yaml not quarantined"
check "malformed renamed into new/: at the first look, no second" "$(grep -c 'bad-now.yaml: .*another look' "$T/e4.dlog")" 0
sleep 5 # two more rescans
for n in x.yml x.yaml.tmp "with space.yaml" late.yml; do
	check "stray '$n': logged once" "$(grep -c "new/$n: not a receiver name" "$T/e4.dlog")" 1
	check "stray '$n': left where it is" "$(test -f "$S/new/$n" && echo yes)" yes
done
check "strays: none sent" "$(mails)" 0
kill -TERM $DPID; wait $DPID
rm -f "$S"/new/*

# --- 19.8: an mtime in the future does not defer a file forever ---
printf 'not: [yaml\n' > "$S/new/future.yaml"; touch -d '2099-01-01' "$S/new/future.yaml"; chown nobody "$S/new/future.yaml"
start_daemon e3 || fail "e3 did not start"
wait_until 10 test -f "$S/corrupt/future.yaml" && ok "future mtime: treated as old (quarantined)" ||
	fail "future.yaml not quarantined: $(ls "$S/new")"
check_contains "future mtime: logged" "$(cat "$T/e3.dlog")" "new/future.yaml: modified in the future (2099-01-01"
kill -TERM $DPID; wait $DPID

finish
