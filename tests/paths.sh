#!/bin/bash
# paths: one set of paths everywhere. The programs, the installed man pages
# and the systemd unit name the directories this build was configured with;
# configure run again with other paths rebuilds what embeds them; a missing
# configuration file is warned about; the unit is hardened and valid.
. "${top_srcdir:-.}/tests/lib.sh"

# What the build says it uses (the lines --version prints).
ver=$(ms --version 2>/dev/null)
built=$(echo "$ver" | sed -n 's/^built with: *//p')
conf=$(echo "$built" | sed -nE 's/^configuration ([^,]*), .*/\1/p')
spool=$(echo "$built" | sed -nE 's/.*, spool ([^,]*), .*/\1/p')
sbin=$(echo "$built" | sed -nE 's/.*, programs in (.*)$/\1/p')
[ -n "$conf" ] && [ -n "$spool" ] && [ -n "$sbin" ] && ok "--version names the built-in paths" ||
	fail "--version: [$ver]"
check "--version names the file in use" "$(echo "$ver" | sed -n 's/^configuration: *//p')" "$MSGSPOOL_CONFIG"
check "--version names the spool in use" "$(echo "$ver" | sed -n 's/^spool: *//p')" "$T/spool"
# The Makefile's own idea of the directories, expanded by make.
mk() { make -s --no-print-directory -C "$BLD" -f Makefile -f - "$@" <<'MK'
print-%:
	@echo $($*)
MK
}
check "configuration path is sysconfdir's" "$conf" "$(mk print-sysconfdir | tail -1)/msgspool/msgspool.yaml"
check "spool path is localstatedir's" "$spool" "$(mk print-localstatedir | tail -1)/spool/msgspool"
check "programs path is sbindir" "$sbin" "$(mk print-sbindir | tail -1)"

# The installed man pages and unit say the same (make writes them).
make -s -C "$BLD" gen/man/msgspool.1 gen/man/msgspoold.8 gen/man/msgspool.yaml.5 gen/examples/msgspoold.service >/dev/null 2>&1
y5=$(cat "$BLD/gen/man/msgspool.yaml.5" 2>/dev/null)
check_contains "msgspool.yaml(5) names the configuration" "$y5" "$conf"
check_contains "msgspool.yaml(5) names the spool" "$y5" "Default $spool."
check_contains "msgspoold(8) names the configuration" "$(cat "$BLD/gen/man/msgspoold.8")" "$conf"
unit=$(cat "$BLD/gen/examples/msgspoold.service" 2>/dev/null)
check_contains "unit runs from sbindir" "$unit" "ExecStart=$sbin/msgspoold --foreground -c $conf"
check_contains "unit may write the spool" "$unit" "ReadWritePaths=$spool "

# Without a file: built-in defaults, and a warning that says so.
if [ ! -e "$conf" ]; then
	MSGSPOOL_CONFIG= "$BLD/msgspool" --spool "$T/nospool" list >/dev/null 2>"$T/err"
	check_contains "no file: warned" "$(cat "$T/err")" "warning: no configuration file ($conf): using built-in defaults"
	# A file of its own: $T/err still held msgspool list's warning, and a
	# wait that looked before the background child had truncated it found
	# that one and killed the daemon before it wrote (distcheck, twice).
	MSGSPOOL_CONFIG= "$BLD/msgspoold" --spool "$T/nospool" --foreground >/dev/null 2>"$T/derr" </dev/null &
	p=$!
	# Its first line, written before anything else; a loaded machine
	# (eight tests at once, ASan) once took over 10 s to start it.
	wait_until 60 grep -q warning "$T/derr"
	kill_ours $p; wait $p 2>/dev/null
	check_contains "no file: msgspoold warned" "$(cat "$T/derr" 2>/dev/null)" "warning: no configuration file ($conf)"
else
	fail "$conf exists on this machine: cannot test the no-file warning"
fi
ms init >/dev/null 2>&1
ms list >/dev/null 2>"$T/err"
check "a file: no warning" "$(cat "$T/err")" ""

# configure run again with other paths rebuilds what embeds them (-C: the
# second run takes the first one's checks from config.cache; only the
# paths change).
B2="$T/build2"
mkdir -p "$B2"
if (cd "$B2" && "$SRC/configure" -q -C --sysconfdir="$T/etc1" --localstatedir="$T/var1" >/dev/null 2>&1); then
	# A first build of the configuration module alone (no BUILT_SOURCES
	# pass): it makes paths.h first. Then configure with other paths.
	make -s -C "$B2" src/conf.lo >/dev/null 2>&1
	[ -f "$B2/src/conf.lo" ] && ok "conf.lo built alone in a fresh build" || fail "conf.lo not built alone"
	check_contains "paths.h: sysconfdir" "$(cat "$B2/src/paths.h" 2>/dev/null)" "\"$T/etc1\""
	# make -n would assume paths.h remade: run make, see whether conf.lo changed.
	before=$(stat -c %y "$B2/src/conf.lo")
	make -s -C "$B2" src/conf.lo >/dev/null 2>&1
	check "unchanged paths: conf.c not compiled again" "$(stat -c %y "$B2/src/conf.lo")" "$before"
	(cd "$B2" && "$SRC/configure" -q -C --sysconfdir="$T/etc2" --localstatedir="$T/var2" >/dev/null 2>&1)
	make -s -C "$B2" src/paths.h >/dev/null 2>&1
	check_contains "reconfigured paths.h" "$(cat "$B2/src/paths.h")" "\"$T/etc2\""
	make -s -C "$B2" src/conf.lo >/dev/null 2>&1
	[ "$(stat -c %y "$B2/src/conf.lo")" != "$before" ] && ok "other paths: conf.c is compiled again" ||
		fail "other paths: conf.c not compiled again"
else
	fail "configure in $B2 failed"
fi

# The systemd unit: valid and hardened (where systemd-analyze exists).
if command -v systemd-analyze >/dev/null 2>&1; then
	# verify checks that ExecStart exists: point it at this build's daemon.
	sed "s|^ExecStart=[^ ]*|ExecStart=$BLD/msgspoold|" "$BLD/gen/examples/msgspoold.service" > "$T/msgspoold.service"
	if systemd-analyze verify --man=no "$T/msgspoold.service" >"$T/out" 2>&1; then
		ok "systemd-analyze verify"
	else
		fail "systemd-analyze verify: $(cat "$T/out")"
	fi
	score=$(systemd-analyze security --offline=yes "$T/msgspoold.service" 2>/dev/null |
		sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
		ok "systemd-analyze security: $score <= 2.5"
	else
		fail "systemd-analyze security: exposure [$score], want <= 2.5"
	fi
else
	echo "skip - systemd-analyze is not installed: unit not checked"
fi
finish
