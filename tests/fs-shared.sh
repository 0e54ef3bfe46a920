#!/bin/bash
# fs-shared: one spool, two msgspoold in separate mount namespaces (unshare
# -m), each seeing the spool at a path of its own through a private bind
# mount, as two hosts sharing a network file system would; first with
# RENAME_EXCHANGE switched off (MSGSPOOL_NO_RENAME_EXCHANGE=1, as on NFS),
# then with RENAME_NOREPLACE off too (claims by link and unlink). Every
# receiver is sent exactly once, and both daemons send. See SCALING.md.
. "${top_srcdir:-.}/tests/lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for unshare -m and bind mounts (not counted as a pass)"
	exit 77
fi
start_smtpd main --pipelining || exit 1
ms init >/dev/null

# host NAME ENV...: msgspoold in a mount namespace of its own, the spool
# bind-mounted at $T/NAME/spool there only; sets HPID.
host() {
	local name=$1
	shift
	mkdir -p "$T/$name/spool"
	cat > "$T/$name.yaml" <<CONF
spool: $T/$name/spool
transport: smtp
from: "Devilry <noreply@example.org>"
daemon:
  user: root
  idle_close: 1
  rescan_interval: 2
smtp:
  host: 127.0.0.1
  port: $PORT
  timeout: 5
  helo: client.test.example
  connections: 2
CONF
	chmod 0640 "$T/$name.yaml"
	env MSGSPOOL_CONFIG="$T/$name.yaml" "$@" unshare -m --propagation private \
		sh -c 'mount --bind "$0" "$1" && exec "$2" --foreground' "$T/spool" "$T/$name/spool" "$BLD/msgspoold" \
		>> "$T/$name.dlog" 2>&1 &
	HPID=$!
	PIDS="$PIDS $HPID"
}
# rcpts: every recipient the server accepted, one a line.
rcpts() { for f in "$OUT"/*.env; do sed -n 2p "$f"; done 2>/dev/null | tr ' ' '\n' | grep .; }
sent_by() { grep -c "outcome=sent" "$T/$1.dlog"; }
pooled() { ls "$T/spool/tmp" | grep -c '^pool\.'; }

# round LABEL N PREFIX ENV...: two hosts, N receivers, all sent once.
round() {
	local label=$1 n=$2 prefix=$3 before a b
	shift 3
	before=$(count sent)
	: > "$T/a.dlog"
	: > "$T/b.dlog"
	host a "$@"; A=$HPID
	host b "$@"; B=$HPID
	wait_until 10 grep -q "started:" "$T/a.dlog" || fail "$label: host a did not start: $(cat "$T/a.dlog")"
	wait_until 10 grep -q "started:" "$T/b.dlog" || fail "$label: host b did not start: $(cat "$T/b.dlog")"
	check_contains "$label: host a sees the spool at its own path" "$(cat "$T/a.dlog")" "spool $T/a/spool"
	check "$label: the bind mounts are private to their namespaces" "$(find "$T/a/spool" "$T/b/spool" -mindepth 1 | wc -l)" 0
	produce "$n" "$prefix"
	wait_until 60 count_is sent $((before + n)) || fail "$label: sent=$(count sent) new=$(count new) active=$(count active)"
	check "$label: no inode pooled (the exchange's fallback replaced)" "$(pooled)" 0
	kill -TERM "$A" "$B"
	wait "$A" "$B"
	check "$label: every receiver in sent/" "$(count sent)" $((before + n))
	check "$label: the server got each once" "$(rcpts | grep -c "^$prefix")" "$n"
	check "$label: no address twice" "$(rcpts | grep "^$prefix" | sort | uniq -d | wc -l)" 0
	a=$(sent_by a)
	b=$(sent_by b)
	if [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $((a + b)) = "$n" ]; then
		ok "$label: both hosts sent ($a and $b)"
	else
		fail "$label: host a sent $a, host b $b, of $n"
	fi
	check "$label: nothing left in active/ or new/" "$(count active)$(count new)" 00
}

round "no RENAME_EXCHANGE" 300 x MSGSPOOL_NO_RENAME_EXCHANGE=1
round "no renameat2 flags" 300 y MSGSPOOL_NO_RENAME_EXCHANGE=1 MSGSPOOL_NO_RENAME_NOREPLACE=1
finish
