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

finish
