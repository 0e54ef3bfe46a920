#!/bin/bash
# status: msgspoold keeps a status file in the spool, so that msgspool
# stats shows its connection count and range and what it did since it
# started (sent, failed, error, quarantined) in all three forms, with the
# rate-limit use; after it stops, or with a file another user planted or a
# symbolic link, stats says it is not running and shows no counts.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd status --pipelining || exit 1
smtp_conf "$PORT" "$(printf '  connections: {min: 1, max: 3}\n  rate: ["1000/hour"]')" \
	"$(printf 'daemon:\n  user: root\n  rescan_interval: 60\n  idle_close: 600\n')"
# idle_close: connections closing when idle change the count, and the
# daemon rewrites its status file: over the files this test plants.
ms init >/dev/null
start_daemon d1 || { fail "daemon did not start: $(cat "$T/d1.dlog")"; finish; exit 1; }
produce 20 ok
produce 2 perm550-
wait_until 60 count_is sent 20 || fail "not all sent: $(count sent) in sent/"
wait_until 30 count_is failed 2 || fail "not both failed: $(count failed) in failed/"
# The file is written at most once a second: wait until it shows the last ones.
sent_counted() { ms stats --json | py -c 'import json,sys; d=json.load(sys.stdin)["daemon"]; sys.exit(d["outcomes"]["sent"] + d["outcomes"]["failed"] != 22)'; }
wait_until 10 sent_counted || fail "stats never counted 22: $(ms stats --json)"
ms stats --json > "$T/stats.json"
check "stats --json: the daemon's outcomes since start" "$(py -c '
import json,sys; d=json.load(open(sys.argv[1]))["daemon"]
print(d["running"], d["pid"] == int(sys.argv[2]), d["outcomes"])' "$T/stats.json" "$DPID")" \
	"True True {'sent': 20, 'failed': 2, 'error': 0, 'quarantined': 0}"
check "stats --json: connections within their range" "$(py -c '
import json,sys; c=json.load(open(sys.argv[1]))["daemon"]["connections"]
print(c["min"], c["max"], c["min"] <= c["current"] <= c["max"])' "$T/stats.json")" "1 3 True"
check "stats --json: the rate-limit use" "$(py -c '
import json,sys; print(json.load(open(sys.argv[1]))["rate"])' "$T/stats.json")" \
	"[{'per_seconds': 3600, 'limit': 1000, 'count': 22}]"
ms stats --openmetrics > "$T/om.txt"
check "openmetrics: counters, start time, connections and rate (Prometheus client's parser)" "$(py - "$T/om.txt" <<'PY'
import sys, time
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
out = fams["msgspool_outcomes"]
assert out.type == "counter", out.type
assert all(s.name == "msgspool_outcomes_total" for s in out.samples), out.samples
by = {s.labels["outcome"]: int(s.value) for s in out.samples}
start = fams["msgspool_daemon_start_time_seconds"].samples[0].value
conns = {s.labels["bound"]: int(s.value) for s in fams["msgspool_smtp_connections"].samples}
print(by["sent"], by["failed"], by["error"], by["quarantined"], 0 < time.time() - start < 600,
      int(fams["msgspool_daemon_up"].samples[0].value), conns["min"], conns["max"],
      int(fams["msgspool_rate_used"].samples[0].value), int(fams["msgspool_rate_limit"].samples[0].value))
PY
)" "20 2 0 0 True 1 1 3 22 1000"
out=$(ms stats)
check_contains "human stats: the counts" "$out" "since start: 20 sent, 2 failed, 0 error, 0 quarantined"
check_contains "human stats: the connections" "$out" "(of 1..3)"

# Planted files are not believed: another user's, a symbolic link.
cp "$T/spool/status" "$T/good-status"
chown nobody "$T/spool/status"
check_contains "a status file of another user is ignored" "$(ms stats)" "daemon not running (status file not written by the spool's owner)"
check "... and gives no counts in --json" "$(ms stats --json | py -c 'import json,sys; print(json.load(sys.stdin)["daemon"])')" \
	"{'running': False, 'reason': \"status file not written by the spool's owner\"}"
rm "$T/spool/status"
ln -s "$T/good-status" "$T/spool/status"
check_contains "a status file that is a link is ignored" "$(ms stats)" "daemon not running (status file is a link)"
check "... and OpenMetrics has no counters then" "$(ms stats --openmetrics | grep -c '^msgspool_outcomes_total')" 0
rm "$T/spool/status"
printf 'state running\npid %s\nsent 5\n' "$DPID" > "$T/spool/status"
check_contains "a status file missing keys is ignored" "$(ms stats)" "daemon not running (status file malformed)"
rm "$T/spool/status"

kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
check_contains "after the daemon stops: not running" "$(ms stats)" "daemon not running"
check "... and its file says stopped" "$(head -1 "$T/spool/status")" "state stopped"
check "... --openmetrics: msgspool_daemon_up 0, no counters" \
	"$(ms stats --openmetrics | grep -c -e '^msgspool_daemon_up 0$' -e '^msgspool_outcomes_total')" 1
# A file marked running whose process is gone is stale.
sed 's/^state stopped$/state running/' "$T/spool/status" > "$T/stale" && cat "$T/stale" > "$T/spool/status"
check_contains "a running file of a dead daemon is stale" "$(ms stats)" "daemon not running"
# ... and so is one whose pid now belongs to a process started later.
sleep 2; sleep 60 & LATER=$!; PIDS="$PIDS $LATER"
sed "s/^pid .*/pid $LATER/" "$T/stale" > "$T/spool/status"
check_contains "a running file whose pid a later process reuses is stale" "$(ms stats)" "daemon not running"
sed "s/^start .*/start $(date +%s)/" "$T/spool/status" > "$T/stale" && cat "$T/stale" > "$T/spool/status"
check_contains "... while the same file with that process's start is believed" "$(ms stats)" "since start: 20 sent"
finish
