#!/bin/bash
# delete.sh: msgspool delete-receivers against find -delete on the same
# files: N receivers of about 3 KB created long ago, in sent/, copied twice
# per round so each tool deletes its own copy of the same tree. Rounds
# alternate which goes first; "cold" has no list cache (every file is
# parsed for its created key), "warm" runs after a listing made the cache,
# as a daily cron run finds it (the previous run saved it). Each figure is
# wall seconds and, in brackets, CPU seconds (user + system): on a shared
# machine the CPU time is the steadier one.
#   bash bench/delete.sh [N]       # default 66000, ROUNDS=3
# BENCH_DIR=/dev/shm/... takes the disk out; BIN names the build directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-66000}
ROUNDS=${ROUNDS:-3}
export MSGSPOOL_CONFIG="$B/msgspool.yaml"
printf 'spool: %s/spool\ntransport: maildir\nfrom: "x <x@example.org>"\nmaildir:\n  path: %s/out\n' "$B" "$B" > "$MSGSPOOL_CONFIG"
"$BIN/msgspool" init >/dev/null
echo "writing $N receivers ..."
make_receivers "$B/spool/sent" "$N"
# make_receivers stamps no created key: give them one from long ago.
find "$B/spool/sent" -name '*.yaml' -print0 | xargs -0 sed -i '1a created: "2025-01-01T10:00:00Z"'
mv "$B/spool" "$B/template"
secs() { /usr/bin/time -f '%e %U %S' -o "$B/time" "$@" >/dev/null 2>&1; awk '{printf "%.2f[%.2f]", $1, $2 + $3}' "$B/time"; }
cpu() { echo "$1" | sed 's/.*\[\(.*\)\]/\1/'; }
run_find() { cp -a "$B/template" "$B/spool"; sync; secs find "$B/spool/sent" -name '*.yaml' -delete; rm -rf "$B/spool"; }
run_ms() { # cold|warm
	cp -a "$B/template" "$B/spool"
	[ "$1" = warm ] && "$BIN/msgspool" list --limit 1 >/dev/null
	sync
	secs "$BIN/msgspool" delete-receivers 30
	rm -rf "$B/spool"
}
printf '%-6s %12s %12s %12s %9s %9s  steal\n' round find-delete "ms cold" "ms warm" "cold/f" "warm/f"
for r in $(seq "$ROUNDS"); do
	m=$(cpu_mark)
	if [ $((r % 2)) = 1 ]; then
		f=$(run_find); c=$(run_ms cold); w=$(run_ms warm)
	else
		w=$(run_ms warm); c=$(run_ms cold); f=$(run_find)
	fi
	# Ratios of CPU time.
	printf '%-6s %12s %12s %12s %9s %9s  %s%%\n' "$r" "$f" "$c" "$w" \
		"$(py -c "print('%.2f' % ($(cpu "$c") / $(cpu "$f")))")" "$(py -c "print('%.2f' % ($(cpu "$w") / $(cpu "$f")))")" "$(steal_pct "$m")"
done
