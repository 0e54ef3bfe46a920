#!/bin/bash
# list-cold.sh: a cold `msgspool list` (no list cache: every receiver read
# and parsed) against `grep -rl` over the same files, the floor of reading
# them all; then the warm list (the cache) for scale. The issue's bar: cold
# at most 3x grep. The median of RUNS each, alternating, the page cache
# warm for both (a first grep reads the files in).
#   bash bench/list-cold.sh [N]      # N receivers, default 100000
#   BENCH_DIR=/var/tmp/wb KEEP=1 bash bench/list-cold.sh   # reuse a kept spool
# BIN names the build directory (default: the source tree).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-100000}
RUNS=${RUNS:-5}
export MSGSPOOL_CONFIG="$B/msgspool.yaml"
[ -f "$MSGSPOOL_CONFIG" ] || printf 'spool: %s/spool\ntransport: maildir\nmaildir:\n  path: %s/outbox\n' "$B" "$B" > "$MSGSPOOL_CONFIG"
"$BIN/msgspool" init >/dev/null 2>&1
bench_spool "$N"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {printf "%.0f", 1000 * a[int((NR + 1) / 2)]}'; }
# cpu SECONDS of user + system, and wall, of one run: "wall cpu".
run() { /usr/bin/time -o "$B/time" -f '%e %U %S' "$@" > /dev/null 2>&1; tail -1 "$B/time" | awk '{print $1, $2 + $3}'; }
grep -rl send_to "$B/spool" > /dev/null
gw=() gc=() cw=() cc=() ww=() wc=()
for _ in $(seq "$RUNS"); do
	read -r w c < <(run grep -rl send_to "$B/spool"); gw+=("$w"); gc+=("$c")
	rm -f "$B/spool/.list-cache"
	read -r w c < <(run "$BIN/msgspool" list); cw+=("$w"); cc+=("$c")
	read -r w c < <(run "$BIN/msgspool" list); ww+=("$w"); wc+=("$c")
done
G=$(median "${gc[@]}") C=$(median "${cc[@]}")
echo "$(find "$B/spool" -name '*.yaml' | wc -l) receiver files, median of $RUNS (wall ms, cpu ms)"
printf '%-34s %6s %6s\n' "grep -rl send_to (the floor)" "$(median "${gw[@]}")" "$G"
printf '%-34s %6s %6s\n' "msgspool list, cold (no cache)" "$(median "${cw[@]}")" "$C"
printf '%-34s %6s %6s\n' "msgspool list, warm" "$(median "${ww[@]}")" "$(median "${wc[@]}")"
echo "cold list / grep, cpu: $(py -c "print(round($C / max($G, 1), 1))")x"
