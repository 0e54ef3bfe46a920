#!/bin/bash
# owner: one owner for the spool. init run as root gives the tree to
# daemon.user (--owner overrides, --group for producers) and, run again,
# gives it back what root's commands left; every command run as root
# works as the spool's owner, so no file it writes is root's; stats counts
# the receivers the owner cannot read (stuck). Needs root; uses the system's
# users nobody and daemon.
. "${top_srcdir:-.}/tests/lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "# owner.sh needs root (it tests what root's commands do)"
	exit 77
fi
chmod 0755 "$T"
mkdir -p "$T/outbox" && chown nobody "$T/outbox"
printf 'daemon:\n  user: nobody\n' >> "$MSGSPOOL_CONFIG"
owners() { find "$T/spool" ! -user nobody -printf '%P:%u\n' | sort | tr '\n' ' '; }

# --- init ---
check_rc "init as root" 0 ms init
check "the whole tree is daemon.user's" "$(owners)" ""
check "init as root makes the Message-ID key as the owner" "$(stat -c '%U:%a' "$T/spool/.message-id-key" 2>&1)" "nobody:600"
check "the root is 0700" "$(stat -c %a "$T/spool")" 700
check_rc "init --owner" 0 ms --spool "$T/other" init --owner daemon
check "--owner overrides daemon.user" "$(stat -c %U "$T/other" "$T/other/new" "$T/other/hold" "$T/other/.message-id-key" | sort -u)" "daemon"
check_rc "init --owner with --group" 0 ms --spool "$T/grp" init --owner daemon --group users
check "--group: producers' directories" "$(stat -c '%U:%G:%a' "$T/grp/new" "$T/grp/tmp" "$T/grp/messages" | sort -u)" "daemon:users:3770"
check "--group: the rest" "$(stat -c '%U:%G:%a' "$T/grp/sent" "$T/grp/hold" | sort -u)" "daemon:users:750"
check_rc "init --owner, no such user" 67 ms --spool "$T/x" init --owner no-such-user-here
check_contains "says which" "$(cat "$T/err")" "no-such-user-here"
printf 'spool: %s/y\n' "$T" > "$T/pub.yaml"; chmod 0644 "$T/pub.yaml"
check_rc "init --owner as another user refused" 77 setpriv --reuid=daemon --regid=daemon --clear-groups "$BLD/msgspool" -c "$T/pub.yaml" init --owner nobody

# --- commands run as root work as the owner ---
id=$(enq a@example.com)
check "enqueue as root: the file is the owner's" "$(stat -c %U "$T/spool/new/$id.yaml")" nobody
check_rc "send as root" 0 ms send
check "send as root: sent/ file is the owner's" "$(owners)" ""
check_rc "resend as root" 0 ms resend "$id"
ms list >/dev/null
check "resend and list as root leave nothing of root's" "$(owners)" ""
printf 'msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: S, text: Hi}\nreceivers:\n  - {send_to: c1@example.com}\n  - {send_to: c2@example.com}\n' > "$T/msg.yaml"
chmod 0644 "$T/msg.yaml"
check_rc "compose as root" 0 ms compose "$T/msg.yaml"
check "compose as root: records and receivers are the owner's" "$(owners)" ""
check_rc "delete as root" 0 ms delete --yes "$id"

# --- root's own files named on the command line are read before root
# becomes the owner; a name inside the spool is read as the owner ---
printf 'Root only text.\n' > "$T/root-text"; printf '<p>Root only html.</p>\n' > "$T/root-html"
chmod 0600 "$T/root-text" "$T/root-html"
check_rc "enqueue --text-file of a 0600 file of root's, as root" 0 ms enqueue --to t@example.com --subject s --text-file "$T/root-text"
check "its text is in the receiver" "$(field "$(cat "$T/out")" text)" "Root only text."
check_rc "enqueue --html-file=F of a 0600 file of root's, as root" 0 ms enqueue --to h@example.com --subject s --html-file="$T/root-html"
check_contains "its html is in the receiver" "$(field "$(cat "$T/out")" html)" "Root only html."
chmod 0600 "$T/msg.yaml"
check_rc "compose of a 0600 file of root's, as root" 0 ms compose "$T/msg.yaml"
check "and still nothing of root's in the spool" "$(owners)" ""
printf 'secret\n' > "$T/secret"; chmod 0600 "$T/secret"
ln -s "$T/secret" "$T/spool/new/evil.txt"; ln -s "$T" "$T/spool/new/evildir"
before=$(find "$T/spool" -name '*.yaml' | wc -l)
check_rc "a link in the spool to root's file is not read as root" 66 ms enqueue --to e@example.com --subject s --text-file "$T/spool/new/evil.txt"
check_contains "says why" "$(cat "$T/err")" "Permission denied"
check_rc "nor a file below a link to a directory in the spool" 66 ms enqueue --to e@example.com --subject s --text-file "$T/spool/new/evildir/secret"
check_rc "nor a file of the spool named by .." 66 ms enqueue --to e@example.com --subject s --text-file "$T/spool/new/../new/evildir/secret"
check_rc "nor a link named from within the spool" 66 sh -c "cd '$T/spool/new' && '$BLD/msgspool' enqueue --to e@example.com --subject s --text-file evil.txt"
check_rc "nor compose's file by a link in the spool" 66 ms compose "$T/spool/new/evildir/msg.yaml"
check "nothing was written" "$(find "$T/spool" -name '*.yaml' | wc -l)" "$before"
rm -f "$T/spool/new/evil.txt" "$T/spool/new/evildir"

# --- a 0600 smtp.password_file of root's: send as root reads it first ---
start_smtpd auth --auth "mailuser:s3cret" || exit 1
printf 's3cret\n' > "$T/password"; chmod 0600 "$T/password"
sed -e 's/^transport: maildir/transport: smtp/' "$MSGSPOOL_CONFIG" > "$T/auth.yaml"
printf 'smtp:\n  host: 127.0.0.1\n  port: %s\n  timeout: 5\n  helo: client.test.example\n  username: mailuser\n  password_file: %s\n' "$PORT" "$T/password" >> "$T/auth.yaml"
check_rc "send as root with a 0600 password file of root's" 0 ms -c "$T/auth.yaml" send
check "it sent them all with AUTH" "$(cat "$T/out"):$(mails)" "6 sent, 0 failed, 0 error, 0 quarantined:6"
one=$(ls "$T/spool/sent" | head -1)
check_rc "resend as root with it" 0 ms -c "$T/auth.yaml" resend "${one%.yaml}"
check "the server has the resent one" "$(mails)" 7
check "the password file stays root's 0600" "$(stat -c %U:%a "$T/password")" "root:600"

# --- msgspool-web started as root works as the spool's owner too: its
# resend writes nothing of root's; its root-only users file is read first ---
. "$SRC/tests/web-lib.sh"
web_users; chmod 0600 "$T/web.htpasswd"
web_conf
start_web || fail "msgspool-web as root did not start: $(cat "$T/web.log")"
web_login
one=$(ls "$T/spool/sent" | head -1); one=${one%.yaml}
n=$(field "$one" sending_success_count)
curl -s -b "$T/jar" --data "csrf=$(web_csrf)&id=$one" "$WEB/receivers/resend" > "$T/page"
check "msgspool-web as root: the resend was sent" "$(field "$one" sending_success_count)" $((n + 1))
check "msgspool-web as root: nothing in the spool is root's" "$(owners)" ""
check "msgspool-web as root runs as the owner" "$(stat -c %U /proc/$WEB_PID)" nobody
kill $WEB_PID; wait $WEB_PID 2>/dev/null

# --- a file root left before: counted as stuck, given back by init ---
printf 'msgspool: 1\nsend_to: r@example.com\nsubject: s\ntext: x\n' > "$T/spool/new/rootfile.yaml"
chmod 0600 "$T/spool/new/rootfile.yaml"
check "stats counts it as stuck" "$(ms stats --json | py -c 'import json,sys; print(json.load(sys.stdin)["stuck"])')" 1
check_contains "stats says so" "$(ms stats)" "stuck"
check_contains "and names it" "$(ms stats 2>&1 >/dev/null)" "new/rootfile.yaml"
check_rc "init again as root" 0 ms init
check "init gave it to the owner" "$(owners)" ""
check "not stuck any more" "$(ms stats --json | py -c 'import json,sys; print(json.load(sys.stdin)["stuck"])')" 0
ln "$T/secret" "$T/spool/new/link.yaml"; ln -s "$T/secret" "$T/spool/new/sym.yaml"
check_rc "init again, with a hard link and a symlink to root's file in new/" 0 ms init
check "root's file elsewhere stays root's" "$(stat -c %U "$T/secret")" root
rm -f "$T/spool/new/link.yaml" "$T/spool/new/sym.yaml"

# --- the daemon with daemon.user starts on a spool init made as root ---
start_daemon d1 && ok "msgspoold as daemon.user starts" || fail "daemon: $(cat "$T/d1.dlog")"
wait_until 30 test -f "$T/spool/sent/rootfile.yaml" && ok "and sends what init gave back" || fail "rootfile not sent: $(cat "$T/d1.dlog")"

finish
