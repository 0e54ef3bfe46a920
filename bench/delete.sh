#!/bin/bash
# delete.sh: msgspool delete-receivers against find -delete on the same
# files: N receivers of about 3 KB created long ago, in sent/, copied
# afresh for each run so each tool deletes its own copy of the same tree.
# Rounds alternate which goes first. "Cold" is the issue's case: no list
# cache (every file is read for its created key) and, as root, the kernel's
# caches dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before each run,
# so both read inodes (and msgspool the files) from the disk. WARM=1 adds a
# run after a listing made the cache, as a daily cron run finds it. Each
# figure is wall seconds and, in brackets, CPU seconds (user + system); the
# ratios to find of both, per round, and their median and range at the end.
#   bash bench/delete.sh [N]       # default 66000, ROUNDS=5
# The scratch directory is on /var/tmp (a disk) unless BENCH_DIR names
# another; on a tmpfs nothing can be dropped and only CPU compares. BIN
# names the build directory.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-66000}
ROUNDS=${ROUNDS:-5}
WARM=${WARM:-}
DROP=
[ -w /proc/sys/vm/drop_caches ] && DROP=1
export MSGSPOOL_CONFIG="$B/msgspool.yaml"
printf 'spool: %s/spool\ntransport: maildir\nfrom: "x <x@example.org>"\nmaildir:\n  path: %s/out\n' "$B" "$B" > "$MSGSPOOL_CONFIG"
"$BIN/msgspool" init >/dev/null 2>&1
echo "writing $N receivers into $B ($(stat -f -c %T "$B")); caches dropped before each run: ${DROP:-no (not root)}"
make_receivers "$B/spool/sent" "$N"
# make_receivers stamps no created key: give them one from long ago.
find "$B/spool/sent" -name '*.yaml' -print0 | xargs -0 sed -i '1a created: "2025-01-01T10:00:00Z"'
mv "$B/spool" "$B/template"
cold() { sync; [ -n "$DROP" ] && echo 3 > /proc/sys/vm/drop_caches; }
secs() { /usr/bin/time -f '%e %U %S' -o "$B/time" "$@" >/dev/null 2>&1; awk '{printf "%.2f[%.2f]", $1, $2 + $3}' "$B/time"; }
wall() { echo "${1%%[*}"; }
cpu() { echo "$1" | sed 's/.*\[\(.*\)\]/\1/'; }
ratio() { py -c "print('%.2f' % (float('$1') / max(float('$2'), 0.01)))"; }
run_find() { cp -a "$B/template" "$B/spool"; cold; secs find "$B/spool/sent" -name '*.yaml' -delete; rm -rf "$B/spool"; }
run_ms() { # cold|warm
	cp -a "$B/template" "$B/spool"
	[ "$1" = warm ] && "$BIN/msgspool" list --limit 1 >/dev/null
	cold
	secs "$BIN/msgspool" delete-receivers 30
	[ -z "$(ls "$B/spool/sent")" ] || echo "msgspool left files in sent/" >&2
	rm -rf "$B/spool"
}
printf '%-6s %13s %13s %13s %8s %8s %8s  steal\n' round find-delete "ms cold" "ms warm" "cold/f" "(CPU)" "warm/f"
: > "$B/ratios"
for r in $(seq "$ROUNDS"); do
	m=$(cpu_mark)
	w=-
	if [ $((r % 2)) = 1 ]; then
		f=$(run_find); c=$(run_ms cold); [ -n "$WARM" ] && w=$(run_ms warm)
	else
		[ -n "$WARM" ] && w=$(run_ms warm); c=$(run_ms cold); f=$(run_find)
	fi
	cw=$(ratio "$(wall "$c")" "$(wall "$f")"); cc=$(ratio "$(cpu "$c")" "$(cpu "$f")")
	ww=-; [ "$w" != - ] && ww=$(ratio "$(wall "$w")" "$(wall "$f")")
	echo "$cw $cc" >> "$B/ratios"
	printf '%-6s %13s %13s %13s %8s %8s %8s  %s%%\n' "$r" "$f" "$c" "$w" "$cw" "$cc" "$ww" "$(steal_pct "$m")"
done
py - "$B/ratios" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
for i, what in ((0, "wall"), (1, "CPU")):
    v = sorted(r[i] for r in rows)
    print("cold/find, %-4s: median %.2fx, range %.2f-%.2fx over %d rounds" % (what, statistics.median(v), v[0], v[-1], len(v)))
PY
