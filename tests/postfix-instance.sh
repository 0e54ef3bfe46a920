# postfix-instance.sh: a private Postfix instance (its own configuration,
# queue and log) for tests/postfix*.sh and the benchmarks. Sourced.
#
# postfix_private DIR LISTEN MAINCF: writes DIR/etc from Debian's master.cf
# (every service unchrooted; with LISTEN=host:port the smtp service listens
# there, else it has none and mail enters through sendmail), a main.cf with
# the paths Postfix needs plus the lines in MAINCF, then creates the queue.
# Prints what `postfix check` says, warnings left out.
postfix_private() {
	local pf=$1 listen=$2 extra=$3
	mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
	chown postfix "$pf/data"
	local smtp='/^smtp *inet/d'
	[ -n "$listen" ] && smtp='s/^smtp *inet /'"$listen"' inet /'
	sed -e '/^#/d' -e "$smtp" /etc/postfix/master.cf |
		awk '/^[a-z0-9]/ && NF >= 8 {$5 = "n"} {print}' > "$pf/etc/master.cf"
	grep -q '^postlog' "$pf/etc/master.cf" ||
		printf 'postlog   unix-dgram n  -       n       -       1       postlogd\n' >> "$pf/etc/master.cf"
	# maillog_file must sit under one of maillog_file_prefixes, or Postfix
	# refuses to start (and says so only in a log it cannot open).
	cat > "$pf/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
inet_protocols = ipv4
mydestination =
maillog_file_prefixes = /tmp, /var
maillog_file = $pf/maillog
$extra
CF
	postfix -c "$pf/etc" set-permissions >/dev/null 2>&1 || true
	postfix -c "$pf/etc" check 2>&1 | grep -v warning || true
}

# For the command-level tests (tests/lib.sh sourced first): a private
# Postfix in $T/postfix (PF) on a free port of 127.0.0.1 (PFPORT) that takes
# mail for the domains it is given into the Maildir $PF/mail/inbox, owned
# by nobody. postfix_mx_setup skips the test (77) unless run as root and
# fails it when Postfix is missing; postfix_mx_conf DOMAINS MAINCF writes
# its configuration (again, to change it between runs), relaying nothing,
# with the lines in MAINCF; postfix_mx_start starts it and waits until it
# listens (stopped when the test exits, or by postfix_mx_stop, e.g. to
# start it again with another postfix_mx_conf).
postfix_mx_setup() {
	command -v postfix >/dev/null || { fail "postfix is not installed (tests/install-deps.sh installs it)"; finish; exit 1; }
	[ "$(id -u)" = 0 ] || { echo "skipped: a private Postfix needs root"; exit 77; }
	PF="$T/postfix"
	chmod 755 "$T"
	mkdir -p "$PF/mail"
	chown nobody "$PF/mail"
	PFPORT=$(free_port)
}
postfix_mx_conf() {
	postfix_private "$PF" "127.0.0.1:$PFPORT" "myhostname = mx.test.localdomain
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = reject_unauth_destination
virtual_mailbox_domains = $1
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 1
smtpd_tls_security_level = none
$2" > "$T/pfstart.log"
}
postfix_mx_start() {
	postfix -c "$PF/etc" start >> "$T/pfstart.log" 2>&1 || { fail "postfix did not start: $(tail -3 "$T/pfstart.log" "$PF/maillog" 2>/dev/null)"; finish; exit 1; }
	trap 'postfix_mx_stop; cleanup' EXIT
	wait_until 10 py -c "import socket; socket.create_connection(('127.0.0.1', $PFPORT), 1)" || fail "postfix does not listen"
}
postfix_mx_stop() {
	postfix -c "$PF/etc" stop >/dev/null 2>&1
}
