# postfix-instance.sh: a private Postfix instance (its own configuration,
# queue and log) for tests/postfix.sh and the benchmarks. Sourced.
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
