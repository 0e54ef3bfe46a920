# lib.sh: shared set-up for the benchmarks: a scratch directory, receivers
# made the producer's way, smtp-sink, a loopback Postfix instance, timing.
set -u
B=${BENCH_DIR:-$(mktemp -d /var/tmp/msgspool-bench.XXXXXX)}
chmod 755 "$B" # Postfix's daemons run as postfix and must reach their queue
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$TOP}
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	[ -n "${PF:-}" ] && postfix -c "$PF/etc" stop >/dev/null 2>&1
	wait 2>/dev/null
	[ -z "${KEEP:-}" ] && rm -rf "$B"
}
trap cleanup EXIT
py() { /usr/bin/python3 "$@"; }
now() { date +%s.%N; }
free_port() { py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rate() { py -c "import sys; n, t = float(sys.argv[1]), float(sys.argv[2]); print('%8.0f/s  (%6.2f s)' % (n / t, t))" "$1" "$2"; }

# cpu_mark: the host's steal and all CPU time so far (jiffies, /proc/stat);
# steal_pct MARK: the share of CPU time the host took from this VM since
# MARK, in percent. On a shared VM it says how far to trust a run.
cpu_mark() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t}' /proc/stat; }
steal_pct() {
	local now; now=$(cpu_mark)
	awk -v m="$1" -v n="$now" 'BEGIN {split(m, a, " "); split(n, b, " "); d = b[2] - a[2]; printf "%.0f", (d > 0 ? 100 * (b[1] - a[1]) / d : 0)}'
}

# publish_all FROM TO: renames every file of FROM into TO, in name order:
# a backlog appearing at once.
publish_all() { py -c 'import os,sys; s,d=sys.argv[1:]; [os.rename(os.path.join(s,f), os.path.join(d,f)) for f in sorted(os.listdir(s))]' "$1" "$2"; }

# source_secs: seconds smtp-source takes for N messages of 3 KB over 4
# reused sessions into the sink: the raw SMTP ceiling.
source_secs() {
	local t0 t1
	t0=$(now); smtp-source -s 4 -d -m "$N" -l 3072 -f noreply@example.org -t user@example.com 127.0.0.1:$SINK; t1=$(now)
	py -c "print(float('$t1') - float('$t0'))"
}

# start_sink: Postfix's smtp-sink on a free port; sets SINK.
start_sink() {
	SINK=$(free_port)
	smtp-sink -u nobody 127.0.0.1:$SINK 512 &
	PIDS="$PIDS $!"
	sleep 0.3
}

# make_receivers DIR N [fsync] [PREFIX]: N receivers of about 3 KB (text and
# html, UTF-8 subject) written into DIR, named PREFIXnnnnnnn.yaml.
make_receivers() {
	py - "$1" "$2" "${3:-}" "${4:-b}" <<'PY'
import os, sys
d, n, sync, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fsync", sys.argv[4]
para = "Fristen for Øving 3 er flyttet til fredag klokken 12:00. Husk å levere i tide. " * 8
body_t = "\n\n".join([para] * 2)
body_h = "".join("<p>%s</p>\n" % para for _ in range(2))
for i in range(n):
    p = os.path.join(d, "%s%07d.yaml" % (prefix, i))
    with open(p, "w") as f:
        f.write("msgspool: 1\nsend_to: user%d@example.com\nsubject: \"Frist flyttet for Øving 3 – «viktig» %d\"\n"
                "user: user%d\nlanguage: nb\ncontext_type: deadline_moved\ntext: |\n" % (i, i, i))
        f.write("".join("  " + l + "\n" for l in body_t.split("\n")))
        f.write("html: |\n" + "".join("  " + l + "\n" for l in body_h.rstrip("\n").split("\n")))
        if sync:
            f.flush(); os.fsync(f.fileno())
PY
}

# bench_spool N: the spool of list-cold.sh and web.sh, $B/spool (made by
# msgspool init): N receivers as two days of work leave them (web-lib.sh's
# web_fixture), written only when sent/ is empty, so that BENCH_DIR=DIR
# KEEP=1 runs reuse one spool.
bench_spool() {
	. "$TOP/tests/web-lib.sh"
	[ -n "$(ls "$B/spool/sent" | head -1)" ] && return
	echo "writing $1 receivers ..."
	T=$B web_fixture "$1"
}

# msgspool_conf DIR PORT [extra]: configuration for a spool in DIR.
# CONNECTIONS=default: smtp and daemon keys left at their defaults (but
# smtp.helo, which a host without a fully qualified name needs).
msgspool_conf() {
	# NO_HELO=1: for a build older than smtp.helo (843adc2), which refuses the key.
	local helo=", helo: bench.test.example"
	[ -n "${NO_HELO:-}" ] && helo=""
	if [ "${CONNECTIONS:-}" = default ]; then
		printf 'spool: %s/spool\ntransport: smtp\nfrom: "Devilry <noreply@example.org>"\nsmtp: {host: 127.0.0.1, port: %s, helo: bench.test.example}\ndaemon: {user: root}\n%s\n' "$1" "$2" "${3:-}" > "$1/msgspool.yaml"
		return
	fi
	cat > "$1/msgspool.yaml" <<CONF
spool: $1/spool
transport: smtp
from: "Devilry <noreply@example.org>"
smtp: {host: 127.0.0.1, port: $2, timeout: 30, connections: ${CONNECTIONS:-4}, messages_per_connection: 1000$helo}
daemon: {user: root, idle_close: 5, rescan_interval: 600}
${3:-}
CONF
}

# count_files DIR: entries in a directory, cheaply.
count_files() { py -c 'import os,sys; print(sum(1 for _ in os.scandir(sys.argv[1])))' "$1"; }

# wait_log LOG N [TIMEOUT] [PID]: waits until the daemon's log has N lines
# saying outcome=sent (each written once the record is durable), or the
# daemon PID has died. Reads only what was appended: listing a directory of
# thousands of files every few milliseconds would take CPU from the daemon
# being measured.
wait_log() {
	py - "$1" "$2" "${3:-600}" "${4:-0}" <<'PY'
import os, sys, time
path, n, lim, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t0, seen, tail = time.monotonic(), 0, b""
with open(path, "rb") as f:
    while seen < n:
        chunk = f.read()
        if chunk:
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            seen += data[:cut].count(b"outcome=sent")
            tail = data[cut:]
            continue
        if time.monotonic() - t0 > lim:
            print("timeout"); sys.exit(1)
        if pid and not os.path.exists("/proc/%d/stat" % pid):
            print("the daemon died"); sys.exit(1)
        time.sleep(0.005)
PY
}

# postfix_instance SINKPORT: a private Postfix (config, queue) relaying
# everything to 127.0.0.1:SINKPORT, stopped; sets PF.
. "$TOP/tests/postfix-instance.sh"
# PF_MAINCF: more main.cf lines; a second argument names the directory.
postfix_instance() {
	PF="$B/${2:-postfix}"
	postfix_private "$PF" "" "myhostname = bench.localdomain
mydomain = localdomain
inet_interfaces = loopback-only
relayhost = [127.0.0.1]:$1
smtp_tls_security_level = none
default_destination_concurrency_limit = ${PF_CONCURRENCY:-20}
smtp_destination_concurrency_limit = ${PF_CONCURRENCY:-20}
${PF_MAINCF:-}"
}
pf_queue_count() { find "$PF/queue/maildrop" "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred" -type f 2>/dev/null | wc -l; }
