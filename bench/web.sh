#!/bin/bash
# web.sh: msgspool-web's latency with a large spool, side by side with the
# msgspool command: the list page, a filtered page and the dashboard, each
# with a warm list cache, the median of RUNS requests, and the server's
# resident memory (VmRSS, and VmHWM, its peak) after them. `msgspool stats
# --json` is the floor: one scan of the spool through the list cache, which
# every page makes too.
#   bash bench/web.sh [N]        # N receivers, default 100000
#   BENCH_DIR=/var/tmp/wb KEEP=1 bash bench/web.sh   # keep the spool; run again on it
# BIN names the build directory (default: the source tree).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-100000}
RUNS=${RUNS:-7}
T=$B
. "$TOP/tests/web-lib.sh"
export MSGSPOOL_CONFIG="$B/msgspool.yaml"
cat > "$MSGSPOOL_CONFIG" <<CONF
spool: $B/spool
transport: maildir
from: "Devilry <noreply@example.org>"
maildir:
  path: $B/outbox
CONF
wait_until() { local i=0; while ! "${@:2}" >/dev/null 2>&1; do i=$((i + 1)); [ $i -ge $(($1 * 10)) ] && return 1; sleep 0.1; done; }
"$BIN/msgspool" init >/dev/null
web_users
web_conf
# BENCH_DIR=DIR KEEP=1 keeps the spool for another run, which reuses it.
bench_spool "$N"
BLD=$BIN
start_web || { echo "msgspool-web did not start: $(cat "$B/web.log")"; exit 1; }
web_login

# median SECONDS...: the middle value, in milliseconds.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {printf "%.0f", 1000 * a[int((NR + 1) / 2)]}'; }
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# A shared machine stretches wall times; CPU time per request says what the
# work costs. Both are printed: "wall ms (cpu ms)".
cli_ms() {
	local t=() c=() line
	for _ in $(seq "$RUNS"); do
		line=$( { /usr/bin/time -f '%e %U %S' "$BIN/msgspool" "$@" > /dev/null; } 2>&1 | tail -1)
		t+=("$(echo "$line" | cut -d' ' -f1)")
		c+=("$(echo "$line" | awk '{print $2 + $3}')")
	done
	printf '%s ms (cpu %s ms)' "$(median "${t[@]}")" "$(median "${c[@]}")"
}
web_ms() {
	local t=() bytes c0 c1
	c0=$(cpu_of "$WEB_PID")
	for _ in $(seq "$RUNS"); do
		t+=("$(curl -s -o "$B/page" -w '%{time_total}' -b "$B/jar" "$WEB$1")")
	done
	c1=$(cpu_of "$WEB_PID")
	bytes=$(wc -c < "$B/page")
	printf '%s ms (cpu %s ms), %s KB' "$(median "${t[@]}")" \
		"$(py -c "print(round(1000 * ($c1 - $c0) / $RUNS))")" $((bytes / 1024))
}

MARK=$(cpu_mark)
"$BIN/msgspool" list > /dev/null   # the list cache, written once
curl -s -o /dev/null -b "$B/jar" "$WEB/receivers"
echo "$N receivers, median of $RUNS, warm list cache"
printf '%-46s %s\n' "msgspool stats --json (one scan, no rows out)" "$(cli_ms stats --json)"
printf '%-46s %s\n' "msgspool list (all rows, to /dev/null)" "$(cli_ms list)"
printf '%-46s %s\n' "msgspool list --status failed --sent none" "$(cli_ms list --status failed --sent none)"
printf '%-46s %s\n' "web /receivers (page 1 of all)" "$(web_ms /receivers)"
printf '%-46s %s\n' "web /receivers?status=failed&q=student12" "$(web_ms '/receivers?status=failed&q=student12')"
printf '%-46s %s\n' "web /receivers?sent=today&sort=-sent" "$(web_ms '/receivers?sent=today&sort=-sent')"
printf '%-46s %s\n' "web / (dashboard)" "$(web_ms /)"
printf '%-46s %s\n' "web /api/receivers (100 objects)" "$(web_ms /api/receivers)"
grep -E '^Vm(RSS|HWM)' "/proc/$WEB_PID/status" | tr -s ' \t' ' '
echo "steal over the run: $(steal_pct "$MARK")%"
