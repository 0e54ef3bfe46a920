# wan.sh: the race over a network RTT_MS away (bench/run.sh wan and
# large). Every sender goes through bench/latency-proxy.py to the same
# server: smtp-sink, then a loopback Postfix smtpd (which offers CHUNKING).
# The proxy's log gives each sender's connections and round trips per
# message. Sourced by run.sh after lib.sh.

# wan_proxy TARGETPORT: a latency proxy in front of TARGETPORT; sets PROXY
# and PXLOG.
wan_proxy() {
	PROXY=$(free_port)
	PXLOG="$B/proxy.$PROXY.log"
	: > "$PXLOG"
	/usr/bin/python3 "$TOP/bench/latency-proxy.py" "$PROXY" "$1" "$RTT_MS" "$PXLOG" &
	PIDS="$PIDS $!"
	sleep 0.5
}

# px_mark: where the proxy's log is now; px_stats MARK: connections, the
# most open at once, and round trips per message since MARK (after the
# proxy has seen them close).
px_mark() { wc -l < "$PXLOG"; }
px_stats() {
	sleep "$(py -c "print($RTT_MS * 2 / 1000 + 0.2)")"
	tail -n +"$(( $1 + 1 ))" "$PXLOG" | py -c '
import sys
rows = [dict(f.split("=") for f in l.split()) for l in sys.stdin if l.strip()]
ev = sorted([(float(r["open"]), 1) for r in rows] + [(float(r["close"]), -1) for r in rows])
top = cur = 0
for _, d in ev:
    cur += d; top = max(top, cur)
turns = sum(int(r["c2s_turns"]) for r in rows)
mails = sum(int(r["mail"]) for r in rows)
bdat = sum(int(r["bdat"]) for r in rows)
print(len(rows), top, "%.2f" % (turns / mails if mails else 0), bdat)'
}

# pf_cpu: CPU seconds of a running Postfix instance PF so far: the master,
# its live children (pickup, cleanup, qmgr, smtp, trivial-rewrite, ...) and
# the children it has reaped (cutime, cstime).
pf_cpu() {
	local m; m=$(head -1 "$PF/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	[ -n "$m" ] || { echo 0; return; }
	{ awk '{print $14 + $15 + $16 + $17}' /proc/"$m"/stat
	  for c in $(ps -o pid= --ppid "$m"); do awk '{print $14 + $15}' /proc/"$c"/stat 2>/dev/null; done
	} | awk -v hz="$(getconf CLK_TCK)" '{t += $1} END {printf "%.2f\n", t / hz}'
}

# pf_relay_secs N SERVERPORT [NAME]: a private Postfix relaying to
# SERVERPORT with its default concurrency: N messages of ~3 KB put in its
# maildrop while it is stopped, then timed from its start until its queue
# is empty. Prints seconds; Postfix's CPU per message (ms) in $B/pf_cpu.
pf_relay_secs() {
	local n=$1 i t0 t1
	PF_MAINCF="message_size_limit = 0" postfix_instance "$2" "${3:-postfix}"
	py - <<'PY' > "$B/pf.msgs"
para = "Fristen for Øving 3 er flyttet til fredag klokken 12:00. Husk å levere i tide. " * 8
print(para)
PY
	for i in $(seq "$n"); do
		printf 'From: noreply@example.org\nTo: user%s@example.com\nSubject: =?UTF-8?Q?Frist_flyttet?= %s\n\n' "$i" "$i" | cat - "${PF_BODY:-$B/pf.msgs}" "$B/pf.msgs" "$B/pf.msgs" |
			sendmail -C "$PF/etc" -f noreply@example.org "user$i@example.com" 2>/dev/null || break
	done
	local queued; queued=$(pf_queue_count)
	[ "$queued" = "$n" ] || echo "# warning: only $queued of $n in Postfix's maildrop" >&2
	t0=$(now)
	if ! postfix -c "$PF/etc" start >/dev/null 2>&1; then
		echo "# Postfix did not start: $(tail -3 "$PF/maillog")" >&2
		echo 1e9; return
	fi
	local limit=$(( $(date +%s) + 900 ))
	while [ "$(pf_queue_count)" -gt 0 ] && [ "$(date +%s)" -lt $limit ]; do sleep 0.05; done
	t1=$(now)
	py -c "print('%.3f' % (float('$(pf_cpu)') * 1000 / $n))" > "$B/pf_cpu"
	postfix -c "$PF/etc" stop >/dev/null 2>&1
	sleep 0.5
	rm -rf "$PF"; PF=
	py -c "print(float('$t1') - float('$t0'))"
}

# pf_smtpd_start: a second private Postfix whose smtpd on a free port
# accepts everything from 127.0.0.1 and discards it after queueing it
# (fsynced, as a real MTA does); sets PFIN (port) and PFIN_DIR.
pf_smtpd_start() {
	PFIN=$(free_port)
	PFIN_DIR="$B/pfin"
	postfix_private "$PFIN_DIR" "127.0.0.1:$PFIN" "myhostname = mx.sink.localdomain
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
default_transport = discard:
relay_transport = discard:
local_transport = discard:
message_size_limit = 0
smtpd_tls_security_level = none
smtputf8_enable = no" >/dev/null
	postfix -c "$PFIN_DIR/etc" start >/dev/null 2>&1 || { echo "# receiving Postfix did not start: $(tail -3 "$PFIN_DIR/maillog")"; return 1; }
	local i
	for i in $(seq 50); do py -c "import socket; socket.create_connection(('127.0.0.1', $PFIN), 1)" 2>/dev/null && break; sleep 0.1; done
}
pf_smtpd_stop() { postfix -c "$PFIN_DIR/etc" stop >/dev/null 2>&1; }

# smtplib_secs N PORT: Python smtplib, a connection per message, one after
# the other (what a Django view's send_mail does). Prints seconds.
smtplib_secs() {
	py - "$2" "$1" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port, n = int(sys.argv[1]), int(sys.argv[2])
para = "Fristen for Øving 3 er flyttet til fredag klokken 12:00. Husk å levere i tide. " * 8
t0 = time.monotonic()
for i in range(n):
    m = EmailMessage()
    m["Subject"] = "Frist flyttet for Øving 3 – «viktig» %d" % i
    m["From"] = "Devilry <noreply@example.org>"
    m["To"] = "user%d@example.com" % i
    m.set_content(para * 2)
    m.add_alternative("<p>%s</p>" % para * 2, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.send_message(m)
print(time.monotonic() - t0)
PY
}

# wan_row NAME N SECS MARK CPU STEAL CONNS: one row of the race's table;
# CONNS is the most connections the sender may open (the bound's).
wan_row() {
	local st; st=$(px_stats "$4")
	py - "$1" "$2" "$3" "$RTT_MS" "$5" "$6" "$7" $st <<'PY'
import sys
name, n, t, rtt, cpu, steal, may, conns, top, rt, bdat = sys.argv[1:]
rate = float(n) / float(t)
bound = int(may) / (float(rtt) / 1000)
print("| %-44s | %5d | %7.1f/s | %3s: %3s (%3s) | %5s | %6.0f/s | %4.2f | %8s | %4s |" % (
    name, int(n), rate, may, top, conns, rt + ("b" if int(bdat) else ""), bound, rate / bound if bound else 0, cpu, steal))
PY
	echo "$1 $(py -c "print(float('$2') / float('$3'))") $5" >> "$B/wan.rates"
}

# wan_race SERVERPORT LABEL: every sender through one proxy to SERVERPORT.
wan_race() {
	local server=$1 m t m0 src n_py
	wan_proxy "$server"
	: > "$B/wan.rates"
	echo
	echo "## wan: $N receivers of ~3 KB through a ${RTT_MS} ms round trip into $2"
	echo "| sender | msgs | rate | conns: may open: most open (opened) | round trips/msg | 1-RTT bound (may open / RTT) | rate / bound | CPU ms/msg | steal % |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	local conns
	# CONNS_LIST: the msgspool configurations raced, separated by '|'.
	IFS='|' read -ra list <<< "${CONNS_LIST:-default|20}"
	for conns in "${list[@]}"; do
		m=$(px_mark)
		t=$(SINK=$PROXY CONNECTIONS=$conns msgspool_throughput "$N")
		wan_row "msgspool, connections: $conns (grew to $(cat "$B/conns_top"))" "$N" "$t" "$m" "$(cat "$B/cpu_per_msg")" "$(cat "$B/steal")" "$(cat "$B/workers")"
	done
	m=$(px_mark); m0=$(cpu_mark)
	t=$(pf_relay_secs "$N" "$PROXY")
	wan_row "Postfix 3.7 relay (concurrency 20: its default)" "$N" "$t" "$m" "$(cat "$B/pf_cpu")" "$(steal_pct "$m0")" 20
	# WAN_OTHERS=0: msgspool and Postfix only (for iterating).
	[ "${WAN_OTHERS:-1}" = 0 ] && { wan_ratios; return; }
	m=$(px_mark); m0=$(cpu_mark)
	src=$(now); smtp-source -s 20 -d -m "$N" -l 3072 -f noreply@example.org -t user@example.com 127.0.0.1:$PROXY
	t=$(py -c "print($(now) - $src)")
	wan_row "smtp-source -s 20 -d (no pipelining)" "$N" "$t" "$m" "-" "$(steal_pct "$m0")" 20
	# A connection per message, one after another: ~6 round trips each, so
	# fewer messages (the rate is what counts).
	n_py=$(py -c "print(max(10, min($N, int(3000 / $RTT_MS))))")
	m=$(px_mark); m0=$(cpu_mark)
	t=$(smtplib_secs "$n_py" "$PROXY")
	wan_row "smtplib, a connection per message" "$n_py" "$t" "$m" "-" "$(steal_pct "$m0")" 1
	wan_ratios
}

# wan_ratios: each msgspool row against the Postfix relay's.
wan_ratios() {
	py - "$B/wan.rates" <<'PY'
import sys
r = {}
for l in open(sys.argv[1]):
    name, rate, cpu = l.rsplit(" ", 2)
    r[name] = (float(rate), cpu)
pf = [v for k, v in r.items() if k.startswith("Postfix")][0]
for k, v in r.items():
    if not k.startswith("msgspool"):
        continue
    cpu = ""
    try:
        cpu = ", CPU per message %.3f of Postfix's processes (aim <= 0.1)" % (float(v[1]) / float(pf[1]))
    except ValueError:
        pass
    print("# %s: %.2f x Postfix's rate (target >= 2 for the default)%s" % (k, v[0] / pf[0], cpu))
PY
}

# wan_loopback: the loopback race in the same run: smtp-source, bench/floor
# and msgspool (4 connections, then the default configuration), in turns.
wan_loopback() {
	FLOOR=${FLOOR:-$BIN/bench/floor}
	[ -x "$FLOOR" ] || make -C "$BIN" bench/floor >/dev/null 2>&1
	start_sink
	echo
	echo "## loopback: $N receivers into smtp-sink, in turns (${REPEAT:-2} rounds)"
	local i
	for i in $(seq "${REPEAT:-2}"); do
		printf '%-46s %s\n' "smtp-source, 4 reused sessions" "$(rate "$N" "$(source_secs)")"
		[ -x "$FLOOR" ] && printf '%-46s %s\n' "floor (4 connections)" "$(floor_run)"
		printf '%-46s %s  %s ms CPU/receiver, steal %s%%\n' "msgspool, connections: 4" "$(rate "$N" "$(CONNECTIONS=4 msgspool_throughput "$N")")" "$(cat "$B/cpu_per_msg")" "$(cat "$B/steal")"
		printf '%-46s %s  %s ms CPU/receiver, steal %s%%, up to %s connections\n' "msgspool, default configuration" "$(rate "$N" "$(CONNECTIONS=default msgspool_throughput "$N")")" "$(cat "$B/cpu_per_msg")" "$(cat "$B/steal")" "$(cat "$B/conns_top")"
	done
}

wan() {
	RTT_MS=${RTT_MS:-50}
	N=${WAN_N:-1000}
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	start_sink
	wan_race "$SINK" "smtp-sink"
	if [ "${WAN_POSTFIX_SMTPD:-1}" != 0 ] && pf_smtpd_start; then
		wan_race "$PFIN" "a loopback Postfix smtpd (PIPELINING, CHUNKING; queues, then discards)"
		pf_smtpd_stop
	fi
	[ -n "${WAN_LOOPBACK-1}" ] && N=${LOOP_N:-2000} wan_loopback
	echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# make_large DIR N BYTES: N receivers whose html body is a long page of
# about BYTES (paragraphs of UTF-8 text with links), no text body.
make_large() {
	py - "$1" "$2" "$3" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
para = "<p>Fristen for <b>Øving 3</b> er flyttet til fredag klokken 12:00. Se <a href=\"https://example.org/x\">oppgaven</a>.</p>"
reps = size // (len(para.encode()) + 1) + 1
body = "".join("  %s\n" % para for _ in range(reps))
for i in range(n):
    with open(os.path.join(d, "L%07d.yaml" % i), "w") as f:
        f.write("msgspool: 1\nsend_to: user%d@example.com\nsubject: \"Stor melding %d\"\n"
                "user: user%d\nlanguage: nb\ncontext_type: big\nhtml: |\n" % (i, i, i))
        f.write(body)
        f.flush(); os.fsync(f.fileno())
PY
}

# large_msgspool N BYTES PORT: msgspool (4 connections) sends N large
# receivers to PORT; prints seconds, CPU per message in $B/cpu_per_msg.
large_msgspool() {
	local n=$1 d="$B/large.$RANDOM"
	mkdir -p "$d/staging"
	CONNECTIONS=4 msgspool_conf "$d" "$3" "max_receiver_size: 100000000"
	"$BIN/msgspool" -c "$d/msgspool.yaml" init >/dev/null
	make_large "$d/staging" "$n" "$2"
	"$BIN/msgspoold" -c "$d/msgspool.yaml" --foreground 2>"$d/log" &
	local dp=$! t0
	sleep 0.5
	t0=$(now)
	publish_all "$d/staging" "$d/spool/new"
	wait_log "$d/log" "$n" 900 $dp >&2 || tail -3 "$d/log" >&2
	py -c "print($(now) - $t0)"
	awk -v n="$n" '{printf "%.1f\n", ($14 + $15) * 10 / n}' /proc/$dp/stat > "$B/cpu_per_msg"
	kill -TERM $dp; wait $dp
	rm -rf "$d"
}

# large: 1 MB and 10 MB messages (a long html body) against smtp-source -l
# of the same size, on loopback and through the proxy.
large() {
	RTT_MS=${RTT_MS:-50}
	start_sink
	wan_proxy "$SINK"
	echo
	echo "## large messages: msgspool (4 connections) against smtp-source -s 4 -d -l SIZE"
	local size n where port t
	for size in 1000000 10000000; do
		n=$(( size > 1000000 ? 8 : 40 ))
		for where in loopback "${RTT_MS} ms"; do
			port=$SINK; [ "$where" = loopback ] || port=$PROXY
			local t0; t0=$(now)
			smtp-source -s 4 -d -m "$n" -l "$size" -f noreply@example.org -t user@example.com 127.0.0.1:$port
			t=$(py -c "print($(now) - $t0)")
			printf '%-10s %-9s %-34s %s\n' "$size B" "$where" "smtp-source -l $size" "$(rate "$n" "$t")"
			t=$(large_msgspool "$n" "$size" "$port")
			printf '%-10s %-9s %-34s %s  %s ms CPU/message\n' "$size B" "$where" "msgspool (html body of $size B)" "$(rate "$n" "$t")" "$(cat "$B/cpu_per_msg")"
		done
	done
}
