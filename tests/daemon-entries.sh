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
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T" "$P"' EXIT
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

finish
