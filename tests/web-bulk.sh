#!/bin/bash
# web-bulk: the web admin's bulk hold, release and delete make one flush
# per directory touched and one audit batch, whatever the number of
# receivers (fsync and fdatasync counted with strace attached to the
# server, not timed), and leave each receiver in exactly one directory and
# in the audit file once. Skipped where strace cannot attach.
. "${top_srcdir:-.}/tests/lib.sh"
. "$SRC/tests/web-lib.sh"

command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
ms init >/dev/null
web_users
web_conf
N=200
# N receivers in new/, 20 in failed/: bulkNNNN, failNN.
py - "$T/spool" "$N" <<'PY'
import os, sys
spool, n = sys.argv[1], int(sys.argv[2])
y = "msgspool: 1\nsend_to: a@example.org\nsubject: s\ntext: x\ncreated: \"2026-01-01T10:00:00Z\"\n"
for i in range(n):
    open(os.path.join(spool, "new", "bulk%04d.yaml" % i), "w").write(y)
for i in range(20):
    open(os.path.join(spool, "failed", "fail%02d.yaml" % i), "w").write(y)
PY
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
web_login
csrf=$(web_csrf)

# flushes FORM URL: posts FORM (a file of urlencoded fields) to URL with
# strace attached to the server; prints the fsync and fdatasync calls made.
flushes() {
	: > "$T/st.err"
	strace -f -y -p "$WEB_PID" -e trace=fsync,fdatasync,sync,syncfs -o "$T/st" 2>"$T/st.err" &
	local sp=$! c
	# Attached to every thread once it says so for the first and a moment has passed.
	wait_until 10 grep -q attached "$T/st.err"
	sleep 0.5
	curl -s -b "$T/jar" --data "@$1" "$WEB$2" > "$T/page"
	kill -INT "$sp"; wait "$sp" 2>/dev/null
	c=$(grep -cE '(^|[0-9] +)(fsync|fdatasync|sync|syncfs)\(' "$T/st")
	# At least the audit's flush: else strace saw nothing and counts nothing.
	[ "$c" -ge 1 ] || echo "# strace saw no flush: $(head -c 300 "$T/st.err")" >&2
	echo "$c"
}
ids_form() { # PREFIX FROM TO [extra]
	{ printf 'csrf=%s' "$csrf"; for i in $(seq "$2" "$3"); do printf '&id=%s' "$(printf "$1" "$i")"; done; printf '%s' "${4:-}"; } > "$T/form"
}
where() { # ID: the directories holding ID.yaml
	(cd "$T/spool" && ls -d */"$1".yaml 2>/dev/null | cut -d/ -f1 | tr '\n' ' ' | sed 's/ $//')
}
in_audit() { grep -c " $1 $2 " "$T/spool/audit" 2>/dev/null || true; }

# Attaching works here? (a container may forbid ptrace)
strace -q -p "$WEB_PID" -e trace=none -o /dev/null 2>"$T/st.err" & sp=$!
sleep 0.5; kill -INT "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
if grep -qi 'operation not permitted\|attach: ' "$T/st.err"; then
	echo "SKIP: strace cannot attach: $(cat "$T/st.err")"
	exit 77
fi

# ---- hold N from new/ and 20 from failed/ in one action ----
ids_form 'bulk%04d' 0 $((N - 1))
for i in $(seq 0 19); do printf '&id=fail%02d' "$i"; done >> "$T/form"
n=$(flushes "$T/form" /receivers/hold)
check_contains "hold: all done" "$(cat "$T/page")" "Held $((N + 20)) message receivers."
# new/, failed/ and hold/ once each, and the audit once: 4 (before: 3 a receiver).
[ "$n" -ge 1 ] && [ "$n" -le 4 ] && ok "hold of $((N + 20)): $n flushes" || fail "hold of $((N + 20)): $n flushes, want 1 to 4"
check "hold: all in hold/" "$(count hold) $(count new) $(count failed)" "$((N + 20)) 0 0"
# A rename is durable once its new name is: hold/ first, then where they came from.
check "hold: hold/ flushed first" "$(first_flush)" "hold"
check "hold: one audit line each" "$(grep -c ' hold [a-z0-9]* \(new\|failed\)/ admin web$' "$T/spool/audit")" $((N + 20))
check "hold: audit names the directory" "$(in_audit hold fail07 | tr -d '\n') $(grep ' hold fail07 ' "$T/spool/audit" | cut -d' ' -f4)" "1 failed/"
check "hold: logged" "$(grep -c ': held by admin: \(new\|failed\)/ -> hold/' "$T/web.log")" $((N + 20))

# ---- release half ----
ids_form 'bulk%04d' 0 $((N / 2 - 1))
n=$(flushes "$T/form" /receivers/release)
check_contains "release: all done" "$(cat "$T/page")" "Released $((N / 2)) message receivers."
[ "$n" -ge 1 ] && [ "$n" -le 3 ] && ok "release of $((N / 2)): $n flushes" || fail "release of $((N / 2)): $n flushes, want 1 to 3"
check "release: in new/" "$(count new) $(count hold)" "$((N / 2)) $((N / 2 + 20))"
check "release: one audit line each" "$(grep -c ' release bulk[0-9]* hold/ admin web$' "$T/spool/audit")" $((N / 2))

# ---- delete from new/ and hold/ at once, with some refused ----
ids_form 'bulk%04d' $((N / 4)) $((3 * N / 4 - 1)) '&id=nosuch&confirm=yes'
n=$(flushes "$T/form" /receivers/delete)
check_contains "delete: all done" "$(cat "$T/page")" "Deleted $((N / 2)) message receivers."
check_contains "delete: the unknown one refused" "$(cat "$T/page")" "1 not deleted"
[ "$n" -ge 1 ] && [ "$n" -le 3 ] && ok "delete of $((N / 2)): $n flushes" || fail "delete of $((N / 2)): $n flushes, want 1 to 3"
check "delete: gone from both" "$(count new) $(count hold)" "$((N / 4)) $((N / 4 + 20))"
check "delete: one audit line each" "$(grep -c ' delete bulk[0-9]* \(new\|hold\)/ admin web$' "$T/spool/audit")" $((N / 2))

# ---- every receiver in exactly one place, and audited as such ----
bad=0
for i in $(seq 0 $((N - 1))); do
	id=$(printf 'bulk%04d' "$i")
	w=$(where "$id")
	h=$(in_audit hold "$id"); r=$(in_audit release "$id"); d=$(in_audit delete "$id")
	if [ "$i" -lt $((N / 4)) ]; then want="new 1 1 0"
	elif [ "$i" -lt $((N / 2)) ]; then want=" 1 1 1"
	elif [ "$i" -lt $((3 * N / 4)) ]; then want=" 1 0 1"
	else want="hold 1 0 0"; fi
	[ "$w $h $r $d" = "$want" ] || { bad=$((bad + 1)); [ "$bad" -le 3 ] && echo "# $id: [$w $h $r $d], want [$want]"; }
done
check "each receiver in one directory, each deed audited once" "$bad" 0
check "failed ones all held" "$(cd "$T/spool/hold" && ls fail*.yaml | wc -l)" 20
finish
