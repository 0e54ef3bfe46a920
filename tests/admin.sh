#!/bin/bash
# admin: the admin for a shell: every list filter, resend by filter, the two
# cleanup commands on every status, stats parsed back, the pager and the
# progress line on a terminal (and their absence when piped).
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null

# mk STATUS ID CREATED_DAYS_AGO [SENT_DAYS_AGO|-] [TYPE] [USER] [ADDR] [SUBJECT]
mk() {
	py - "$T/spool" "$@" <<'PY'
import datetime as D, os, sys
spool, st, rid, cdays = sys.argv[1:5]
sent = sys.argv[5] if len(sys.argv) > 5 else "-"
typ = sys.argv[6] if len(sys.argv) > 6 else "-"
user = sys.argv[7] if len(sys.argv) > 7 else "-"
addr = sys.argv[8] if len(sys.argv) > 8 else "someone@example.com"
subj = sys.argv[9] if len(sys.argv) > 9 else "Subject of " + rid
now = D.datetime.now(D.timezone.utc)
fmt = lambda d: (now - D.timedelta(days=float(d))).strftime("%Y-%m-%dT%H:%M:%SZ")
y = "msgspool: 1\nsend_to: %s\nsubject: %s\ntext: x\ncreated: \"%s\"\n" % (addr, subj, fmt(cdays))
if sent != "-": y += "sent_at: \"%s\"\nsending_success_count: 1\n" % fmt(sent)
if typ != "-": y += "context_type: %s\n" % typ
if user != "-": y += "user: %s\n" % user
d = {"not_sent": "new"}.get(st, st)
open(os.path.join(spool, d, rid + ".yaml"), "w").write(y)
PY
}
ids() { ms list --json "$@" | py -c 'import json,sys; print(" ".join(sorted(r["id"] for r in json.load(sys.stdin))))'; }

# "Today" must still be today just after midnight: ages in days, scaled
# down to fit in the seconds since local midnight.
since_midnight=$(( $(date +%s) - $(date -d 'today 00:00' +%s) ))
[ "$since_midnight" -lt 10 ] && { sleep 10; since_midnight=$((since_midnight + 10)); }
age() { py -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[2]) * float(sys.argv[3]) / 86400))" "$1" "$since_midnight" "$2"; }
mk sent s-today "$(age 0.01 0.6)" "$(age 0.001 0.05)" deadline_moved april april@example.com "Frist flyttet"
mk sent s-3d 4 3 comment_delivery bob bob@example.org "New comment"
mk sent s-old 500 400 deadline_moved carl carl@uni.example.no "Old news"
mk failed f1 1 - deadline_moved dora dora@example.com "Retry me"
mk error e1 2 - comment_delivery erik erik@Example.ORG "Bounced"
mk not_sent n1 "$(age 0.001 0.1)" - - fred fred@example.com "Fresh"

# --- list filters ---
check "list: all, newest first" "$(ms list | awk 'NR>1 && $1 != "" {print $1}' | head -6 | tr '\n' ' ')" "n1 s-today f1 e1 s-3d s-old "
check "list total" "$(ms list | tail -1)" "6 message receivers"
check "--status sent" "$(ids --status sent)" "s-3d s-old s-today"
check "--status twice" "$(ids --status failed --status error)" "e1 f1"
check "--status not_sent" "$(ids --status not_sent)" "n1"
check "--sent today" "$(ids --sent today)" "s-today"
check "--sent 7d" "$(ids --sent 7d)" "s-3d s-today"
check "--sent none" "$(ids --sent none)" "e1 f1 n1"
check "--sent any" "$(ids --sent any | wc -w)" 6
[ "$(date +%d)" -gt 4 ] && check "--sent month" "$(ids --sent month)" "s-3d s-today"
check "--sent year excludes last year" "$(ids --sent year | grep -c s-old)" 0
check "--type" "$(ids --type comment_delivery)" "e1 s-3d"
check "--search user" "$(ids --search DORA)" "f1"
check "--search address" "$(ids --search example.org)" "e1 s-3d"
check "--search subject" "$(ids --search 'new')" "s-3d s-old"
check "--search id" "$(ids --search s-o)" "s-old"
check "--since" "$(ids --since "$(date -d '2 days ago' +%F)")" "e1 f1 n1 s-today"
check "--until" "$(ids --until "$(date -d '3 days ago' +%F)")" "s-3d s-old"
check "filters combine" "$(ids --status sent --type deadline_moved)" "s-old s-today"
check "--limit" "$(ms list --limit 2 | tail -1)" "6 message receivers (more not shown; see --limit)"
check "--limit rows" "$(ms list --limit 2 | wc -l)" 4
check_rc "--sent bad" 64 ms list --sent fortnight
check_rc "--status bad" 64 ms list --status lost
check_rc "--since bad" 64 ms list --since yesterday
COLUMNS=110 ms list > "$T/narrow"
check "sized to the terminal" "$(awk 'length($0) > 110' "$T/narrow" | wc -l)" 0
check_contains "long subjects cut with an ellipsis" "$(COLUMNS=60 ms list)" "…"

# --- stats, parsed back ---
ms stats --json > "$T/stats.json"
check "stats --json statuses" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1]))["statuses"]; print(d["sent"]["count"], d["failed"]["count"], d["error"]["count"], d["not_sent"]["count"], d["active"]["count"])' "$T/stats.json")" "3 1 1 1 0"
check "stats --json oldest sent is 500 days" "$(py -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["statuses"]["sent"]["oldest_age_seconds"]/86400))' "$T/stats.json")" 500
check "stats --json types" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1]))["types"]; print(d["deadline_moved"]["count"], d["comment_delivery"]["count"], d["-"]["count"])' "$T/stats.json")" "3 2 1"
check "stats --json domains (not yet sent)" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1]))["domains"]; print(sorted((k, v["count"]) for k, v in d.items()))' "$T/stats.json")" "[('Example.ORG', 1), ('example.com', 2)]"
ms stats --openmetrics > "$T/om.txt"
# Read back with the Prometheus client's own OpenMetrics parser.
check "openmetrics: one family per dimension, no age for an empty status" "$(py - "$T/om.txt" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def v(fam, label, value):
    return [s.value for s in fams[fam].samples if s.labels.get(label) == value]
by_status = fams["msgspool_receivers"].samples
assert all(list(s.labels) == ["status"] for s in by_status), by_status
print(int(sum(s.value for s in by_status)), int(v("msgspool_receivers", "status", "sent")[0]),
      int(v("msgspool_receivers_by_type", "type", "deadline_moved")[0]),
      int(v("msgspool_unsent_receivers_by_domain", "domain", "example.com")[0]),
      v("msgspool_oldest_age_seconds", "status", "active"),
      round(v("msgspool_oldest_age_seconds", "status", "sent")[0] / 86400))
PY
)" "6 3 3 2 [] 500"
check "openmetrics ends with # EOF" "$(tail -1 "$T/om.txt")" "# EOF"
out=$(ms stats)
check_contains "stats table" "$out" "STATUS                           COUNT OLDEST"
check_contains "stats qshape header" "$out" "1280+"
check "stats: sent row" "$(echo "$out" | awk '$1=="sent" {print $2, $3}')" "3 500d"

# --- resend by filter ---
cp -r "$T/spool" "$T/spool.bak"
check_rc "resend by filter without --yes, not on a terminal" 64 sh -c "'$BLD/msgspool' resend --status error < /dev/null"
check_contains "says how many and asks for --yes" "$(cat "$T/err")" "1 message receiver matches. Resend it? Not on a terminal: add --yes"
check "nothing resent" "$(ls "$T/spool/error")" "e1.yaml"
check_rc "resend ids and filters refused" 64 ms resend e1 --status error
check_rc "resend by filter --yes" 0 ms resend --yes --type deadline_moved --status sent
check "resent both matches" "$(cat "$T/out")" "$(printf 's-old: sent\ns-today: sent')"
check "counts grew" "$(field s-old sending_success_count)" 2
check "others untouched" "$(field s-3d sending_success_count)" 1
check "delivered to the maildir" "$(ls "$T/outbox/new" | wc -l)" 2
(sleep 1; printf 'n\n') | script -qc "'$BLD/msgspool' resend --status error" /dev/null > "$T/tty.out" 2>&1
check_contains "asks on a terminal" "$(cat "$T/tty.out")" "Resend it? [y/N]"
check "declined: untouched" "$(field e1 sending_success_count)" None
rm -rf "$T/spool"; mv "$T/spool.bak" "$T/spool"

# --- delete-receivers: Devilry's rule, every status, never active/ or corrupt/ ---
mk failed f-old 30 -; mk error e-old 30 -; mk not_sent n-old 30 -
mk active a-old 30 -; cp "$T/spool/active/a-old.yaml" "$T/spool/corrupt/c-old.yaml"
check_rc "delete-receivers --dry-run" 0 ms delete-receivers --dry-run 10
check "dry run counts" "$(cat "$T/out")" "Would delete 4 message receivers."
check "dry run deletes nothing" "$(find "$T/spool" -name '*.yaml' | wc -l)" 11
check_rc "delete-receivers --status" 0 ms delete-receivers --status failed 10
check "only failed" "$(cat "$T/out")" "Deleting 1 message receivers."
check "f-old gone, f1 kept" "$(ls "$T/spool/failed")" "f1.yaml"
check_rc "delete-receivers 10" 0 ms delete-receivers 10
check "message" "$(cat "$T/out")" "Deleting 3 message receivers."
check "old ones gone in every status" "$(ls "$T"/spool/{new,failed,error,sent} | grep -c old)" 0
check "active/ kept" "$(ls "$T/spool/active")" "a-old.yaml"
check "corrupt/ kept" "$(ls "$T/spool/corrupt")" "c-old.yaml"
check_rc "delete-receivers --status active refused" 64 ms delete-receivers --status active 1
check_rc "delete-receivers bad days" 64 ms delete-receivers soon
check_rc "delete-receivers 0 (before midnight today)" 0 ms delete-receivers 0
check "0 deletes all but today's" "$(cat "$T/out")" "Deleting 3 message receivers."
check "today's kept" "$(ids | tr ' ' '\n' | grep -v -- -old | sort | tr '\n' ' ')" "n1 s-today "

# --- delete-messages-without-receivers ---
for m in m-used m-orphan m-young; do printf 'msgspool: 1\ncontext_type: x\n' > "$T/spool/messages/$m.yaml"; done
touch -d '2 hours ago' "$T/spool/messages/m-used.yaml" "$T/spool/messages/m-orphan.yaml"
printf 'message: m-used\n' >> "$T/spool/new/n1.yaml"
check_rc "delete-messages-without-receivers" 0 ms delete-messages-without-receivers
check "message" "$(cat "$T/out")" "Deleting 1 messages with no message receivers."
check "orphan gone, used and young kept" "$(ls "$T/spool/messages" | tr '\n' ' ')" "m-used.yaml m-young.yaml "

# --- pager on a terminal, plain when piped ---
PAGER="sed s/^/PAGED:/" script -qc "'$BLD/msgspool' show n1" /dev/null > "$T/tty.out" < /dev/null
check_contains "show uses the pager on a terminal" "$(cat "$T/tty.out")" "PAGED:id"
check "show is plain when piped" "$(PAGER="sed s/^/PAGED:/" ms show n1 | grep -c PAGED)" 0

# --- progress on a terminal only ---
produce 1100 prog
script -qc "'$BLD/msgspool' list >/dev/null" /dev/null > "$T/tty.out" < /dev/null
check_contains "progress on a terminal" "$(cat "$T/tty.out")" "scanning 1024 files"
ms list >/dev/null 2> "$T/err"
check "quiet when not a terminal" "$(cat "$T/err")" ""

# --- the list cache is never stale ---
rm -f "$T"/spool/*/*.yaml
mk failed c1 1 - - - a@example.com "Before"
mk sent c2 1 0.5 - - b@example.com "Second"
ms list >/dev/null
[ -f "$T/spool/.list-cache" ] && ok "list leaves a cache" || fail "no cache written"
# Same size, same inode, mtime put back: only the ctime tells.
f="$T/spool/failed/c1.yaml"; m=$(stat -c %Y "$f")
sed -i.bak 's/Before/Behind/' "$f"; rm -f "$f.bak"; touch -d "@$m" "$f"
check "an edit in place is seen" "$(ms list --json | py -c 'import json,sys; print(sorted(r["subject"] for r in json.load(sys.stdin)))')" "['Behind', 'Second']"
cat "$f" > "$f.new"; sed -i 's/Behind/Beyond/' "$f.new"; cat "$f.new" > "$f"; rm "$f.new"; touch -d "@$m" "$f"
check "a rewrite of the same inode is seen" "$(ms list --status failed | awk 'NR==2 {print $4}')" "Beyond"
mv "$T/spool/failed/c1.yaml" "$T/spool/new/"
check "a move is seen" "$(ms list --status not_sent | awk 'NR==2 {print $1}')" "c1"
check "and it left its old status" "$(ms list --status failed | tail -1)" "0 message receivers"
rm "$T/spool/sent/c2.yaml"
check "a delete is seen" "$(ms list | tail -1)" "1 message receiver"
head -c 3000 /dev/urandom > "$T/spool/.list-cache"
check "a corrupt cache is ignored" "$(ms list | tail -1)" "1 message receiver"
printf 'v1\t0\tc1\t1\t1\t1\t1\t1\t1\t1\t1\tsForged\t-\t-\t-\n' > "$T/spool/.list-cache"
check "a forged cache entry is not believed" "$(ms list | awk 'NR==2 {print $4}')" "Beyond"

# --- the cache follows the directories' order, and is left alone unchanged ---
rm -f "$T"/spool/*/*.yaml
for i in $(seq 1 40); do mk sent "o$i" 1 0.5; done
mk failed f1 1
ms list >/dev/null
cache_ids() { awk -F'\t' -v st="$1" '$1 == "v1" && $2 == st {print $3}' "$T/spool/.list-cache" | tr '\n' ' '; }
dir_ids() { py -c 'import os,sys; print(" ".join(f[:-5] for f in os.listdir(sys.argv[1]) if f.endswith(".yaml")), end=" ")' "$1"; }
check "the cache lists sent/ in the directory's order" "$(cache_ids 4)" "$(dir_ids "$T/spool/sent")"
sleep 0.2; ms list >/dev/null # the directories settled: stamped (spool-layout/README.md)
ino=$(stat -c %i "$T/spool/.list-cache")
ms list >/dev/null
check "an unchanged cache is not rewritten" "$(stat -c %i "$T/spool/.list-cache")" "$ino"
want=$(ms list)
tac "$T/spool/.list-cache" > "$T/rev" && cat "$T/rev" > "$T/spool/.list-cache"
check "a cache in another order lists the same" "$(ms list)" "$want"
check "and is rewritten in the directory's order" "$(cache_ids 4)" "$(dir_ids "$T/spool/sent")"
ms list --status failed >/dev/null
check "a listing of one status keeps the others' entries" "$(cache_ids 4 | wc -w)" 40

# Random changes between listings (new files, edits, moves between
# statuses, deletions, renames): a listing through the cache must print
# what a listing without it prints, every time.
rm -f "$T"/spool/*/*.yaml "$T/spool/.list-cache"
stale=0
for round in $(seq 1 25); do
	py - "$T/spool" "$round" <<'PY'
import os, random, sys
spool, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
dirs = ["new", "failed", "error", "sent"]
files = [(d, f) for d in dirs for f in os.listdir(os.path.join(spool, d)) if f.endswith(".yaml")]
for _ in range(rnd.randint(1, 8)):
    op = rnd.choice(["add", "add", "edit", "move", "delete", "rename"]) if files else "add"
    if op == "add":
        d, f = rnd.choice(dirs), "r%d-%d.yaml" % (seed, rnd.randint(0, 10**6))
        files.append((d, f))
    else:
        d, f = files.pop(rnd.randrange(len(files)))
        p = os.path.join(spool, d, f)
        if not os.path.exists(p):
            continue
        if op == "delete":
            os.unlink(p)
            continue
        if op == "move":
            d2 = rnd.choice(dirs)
            os.rename(p, os.path.join(spool, d2, f))
            files.append((d2, f))
            continue
        if op == "rename":
            f2 = "n%d-%s" % (seed, f)
            os.rename(p, os.path.join(spool, d, f2))
            files.append((d, f2))
            continue
        files.append((d, f))
    # An edit outside new/ writes the file anew and renames it over, as every
    # tool does (spool-layout/README.md, the list cache); in new/, in place.
    p = os.path.join(spool, d, f)
    w = p if d == "new" else p + ".edit"
    with open(w, "w") as o:
        o.write("msgspool: 1\nsend_to: u%d@example.com\nsubject: s%d\ntext: x\ncreated: \"2026-01-%02dT10:00:00Z\"\n"
                % (rnd.randint(0, 9), rnd.randint(0, 10**6), rnd.randint(1, 28)))
    if w != p:
        os.rename(w, p)
PY
	# Every other round the directories settle first: listed from stamps.
	[ $((round % 2)) = 1 ] && sleep 0.15
	cached=$(ms list)
	cp "$T/spool/.list-cache" "$T/cache.keep" 2>/dev/null
	rm -f "$T/spool/.list-cache"
	fresh=$(ms list)
	cp "$T/cache.keep" "$T/spool/.list-cache" 2>/dev/null
	[ "$cached" = "$fresh" ] || { stale=$((stale + 1)); echo "round $round differs"; }
done
check "25 rounds of random changes: the cached listing is the fresh one" "$stale" 0

# --- newest first; ties on created go by id, descending, past the sort key's 20-byte head ---
rm -f "$T"/spool/*/*.yaml
for id in 20261128T164517.240446Z-aa 20261128T164517.240446Z-ab 20261128T164517.2404 20261128T164517.24 \
	20261128T164517.240446Z-a 20261128T164518.000000Z-00; do
	printf 'msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\ncreated: "2026-11-28T16:45:17Z"\n' > "$T/spool/sent/$id.yaml"
done
sed -i 's/16:45:17Z/16:45:18Z/' "$T/spool/sent/20261128T164518.000000Z-00.yaml"
check "ties on created sorted by id, descending" "$(ms list | awk 'NR > 1 && NF > 3 {print $1}' | tr '\n' ' ')" \
	"20261128T164518.000000Z-00 20261128T164517.240446Z-ab 20261128T164517.240446Z-aa 20261128T164517.240446Z-a 20261128T164517.2404 20261128T164517.24 "

# --- stats looks at each file once: the list cache's check and the stuck
# check share one stat (calls of the stat family counted with strace) ---
if command -v strace >/dev/null; then
	rm -f "$T"/spool/*/*.yaml "$T/spool/.list-cache"
	plant new sn 3000 failed sf 1000
	sleep 0.15 # the directories settle: the next stats stamps them in the cache
	ms stats >/dev/null
	for round in first second; do
		env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=stat,lstat,fstat,newfstatat,statx \
			-o "$T/st" "$BLD/msgspool" stats --json > "$T/stats.json"
		n=$(grep -cE '(^|[0-9] +)(stat|lstat|fstat|newfstatat|statx)\(' "$T/st")
		check "stats of 4,000 ($round with the cache): all counted" \
			"$(py -c 'import json,sys; d=json.load(open(sys.argv[1]))["statuses"]; print(d["not_sent"]["count"], d["failed"]["count"])' "$T/stats.json")" "3000 1000"
		# one a file and a few for the spool (before: two for each file of new/)
		[ "$n" -le 4200 ] && ok "stats of 4,000 ($round with the cache): $n stat calls" ||
			fail "stats of 4,000 ($round with the cache): $n stat calls, want one a file (at most 4,200)"
	done
fi

for c in delete-receivers delete-messages-without-receivers stats resend resend-failed send; do
	check_rc "$c --help" 0 ms "$c" --help
done
finish
