#!/bin/bash
# daemon-start: msgspoold fails fast, exit 78 (EX_CONFIG) with the reason,
# when it could never send: an unreadable smtp.password_file, an unknown
# daemon.user, an unusable spool; and it reads the password file before
# it drops privileges, so a root-only secret works. With a Maildir it
# starts the workers the transport can use (min), not smtp.connections' max.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd auth --auth "mailer:s3cret" || exit 1
P=$(mktemp -d /tmp/msgspool-start.XXXXXX); chmod 755 "$P"
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T" "$P"' EXIT
S="$P/spool"
printf 's3cret\n' > "$P/password"; chmod 600 "$P/password"      # root's alone
conf() { # USER PASSWORD_FILE SPOOL
	smtp_conf "$PORT" "$(printf '  username: mailer\n  password_file: %s\n' "$2")" \
		"$(printf 'daemon:\n  user: %s\n  idle_close: 1\n' "$1")"
	sed -i "s|^spool: .*|spool: $3|" "$MSGSPOOL_CONFIG"
	chmod 644 "$MSGSPOOL_CONFIG"
}
conf nobody "$P/password" "$S"
ms init >/dev/null; chown -R nobody "$S"

# --- the secret is read as root, before becoming nobody ---
start_daemon s1 || fail "a root-only password file: the daemon did not start: $(cat "$T/s1.dlog")"
printf 'msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\n' > "$S/tmp/a.yaml"
chown nobody "$S/tmp/a.yaml"; mv "$S/tmp/a.yaml" "$S/new/"
wait_until 10 test -f "$S/sent/a.yaml" && ok "a root-only password file: sent with AUTH as nobody" ||
	fail "not sent: $(cat "$T/s1.dlog")"
check "running as nobody" "$(awk '/^Uid:/ {print $2}' /proc/$DPID/status)" "$(id -u nobody)"
kill -TERM $DPID; wait $DPID

# --- fail fast, exit 78, with the reason ---
conf nobody "$P/missing" "$S"
check_rc "password file missing: exit 78" 78 timeout 10 "$BLD/msgspoold" --foreground
check_contains "password file missing: says which and why" "$(cat "$T/err")" "$P/missing: cannot read the SMTP password"
conf no-such-user-xyz "$P/password" "$S"
check_rc "unknown daemon.user: exit 78" 78 timeout 10 "$BLD/msgspoold" --foreground
check_contains "unknown daemon.user: says so" "$(cat "$T/err")" "daemon.user: no such user 'no-such-user-xyz'"
conf nobody "$P/password" "$P/nospool"
check_rc "missing spool: exit 78" 78 timeout 10 "$BLD/msgspoold" --foreground
check_contains "missing spool: says so" "$(cat "$T/err")" "$P/nospool: cannot open spool"
mkdir -p "$P/rootspool"; chmod 700 "$P/rootspool"
conf nobody "$P/password" "$P/rootspool"
check_rc "a spool nobody cannot use: exit 78" 78 timeout 10 "$BLD/msgspoold" --foreground
check_contains "a spool nobody cannot use: says so" "$(cat "$T/err")" "$P/rootspool: cannot open spool"

# --- a Maildir gets the workers it can use: min (a whole number's count), not max ---
maildir_workers() { # CONNECTIONS-LINE: the started: line's worker count
	printf 'spool: %s/spool\ntransport: maildir\nmaildir:\n  path: %s/outbox\ndaemon:\n  user: root\n%s\n' \
		"$T" "$T" "$1" > "$MSGSPOOL_CONFIG"
	[ -d "$T/spool" ] || ms init >/dev/null
	start_daemon mw || { echo "did not start: $(cat "$T/mw.dlog")"; return; }
	sed -n 's/.*started:.* \([0-9][0-9]*\) workers.*/\1/p' "$T/mw.dlog"
	kill -TERM $DPID; wait $DPID
}
check "maildir, default connections: min's 4 workers, not max's 40" "$(maildir_workers "")" 4
check "maildir, connections: 6: 6 workers" "$(maildir_workers "smtp: {connections: 6}")" 6
check "maildir, connections {min: 2, max: 10}: 2 workers" "$(maildir_workers "smtp: {connections: {min: 2, max: 10}}")" 2

# --- SIGHUP on a Maildir: the new count of workers applies (min, as at start) ---
maildir_conf() { printf 'spool: %s/spool\ntransport: maildir\nmaildir:\n  path: %s/outbox\ndaemon:\n  user: root\n%s\n' \
	"$T" "$T" "$1" > "$MSGSPOOL_CONFIG"; }
threads() { ls "/proc/$DPID/task" | wc -l; }
maildir_conf "smtp: {connections: 1}"
start_daemon mh || fail "did not start: $(cat "$T/mh.dlog")"
before=$(threads)
maildir_conf "smtp: {connections: {min: 3, max: 10}}"
kill -HUP $DPID
wait_until 5 grep -q "SIGHUP: connections {1, 1} -> {3, 3}" "$T/mh.dlog" && ok "maildir SIGHUP: 1 worker -> min's 3 logged" ||
	fail "maildir SIGHUP: $(grep SIGHUP "$T/mh.dlog")"
check "maildir SIGHUP: two more threads" "$(( $(threads) - before ))" 2
range_3() { ms stats --json | py -c 'import json,sys; c=json.load(sys.stdin)["daemon"]["connections"]; sys.exit((c["min"], c["max"], c["current"]) != (3, 3, 3))'; }
wait_until 5 range_3 && ok "maildir SIGHUP: stats shows 3 of 3..3" || fail "stats: $(ms stats --json)"
sent0=$(count sent)
produce 30 mh
wait_until 30 count_is sent $((sent0 + 30)) && ok "maildir SIGHUP: 30 sent after the reload" || fail "sent: $(count sent)"
check "maildir SIGHUP: each in the Maildir once" \
	"$(cat "$T"/outbox/new/* | tr -d '\r' | grep '^To: mh[0-9]*@example.com$' | sort | uniq -c | awk '$1 == 1' | wc -l)" 30
kill -TERM $DPID; wait $DPID

finish
