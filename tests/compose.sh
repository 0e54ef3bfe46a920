#!/bin/bash
# compose: one message for many users in their languages: fallback,
# escaping, vars at both levels, text derived from html, every error
# leaving the spool unchanged, --key races between processes (compose and
# enqueue), crashes before and after the commit point, round trip via show.
. "${top_srcdir:-.}/tests/lib.sh"
ms init >/dev/null
snapshot() { (cd "$T/spool" && find . -type f | sort | xargs -r md5sum); }
j() { ms show --json "$1" | py -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
byuser() { ms list --json | py -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r.get("user")==sys.argv[1]][0])' "$1"; }

check_rc "compose" 0 ms compose "$SRC/examples/compose-deadline.yaml"
read -r mid n rest < "$T/out"
check "prints id and count" "$n $rest" "3 receivers"
check "message record written" "$(ls "$T/spool/messages")" "$mid.yaml"
rm -f "$T"/spool/new/* "$T"/spool/messages/*
ms compose "$SRC/examples/compose-deadline.yaml" > "$T/c.out"
read -r mid n rest < "$T/c.out"
check "three receivers in new/" "$(count new)" 3
check "record" "$(py -c 'import yaml' 2>/dev/null; grep -E '^(receivers|context_type|created_by):' "$T/spool/messages/$mid.yaml" | tr '\n' ' ')" "created_by: admin context_type: deadline_moved receivers: 3 "
check "record has no publishing list left" "$(grep -c publishing "$T/spool/messages/$mid.yaml")" 0
a=$(byuser april); b=$(byuser bob); c=$(byuser carl)
check "april in nb" "$(j "$a" 'd["language"], d["subject"], d.get("language_fallback")')" "('nb', 'Frist flyttet for Øving 3', None)"
check "april: given text" "$(j "$a" 'd["text"]')" "Fristen for Øving 3 er nå fredag."
check "bob: de unsupported -> en" "$(j "$b" 'd["language"], d["language_fallback"], d["requested_language"]')" "('en', True, 'de')"
check "carl: no language -> default" "$(j "$c" 'd["language"], d["language_fallback"], d.get("requested_language")')" "('en', True, None)"
check "carl: receiver var wins" "$(j "$c" 'd["html"]')" "<p>The deadline for <b>Øving 3</b> is now Friday 12:00.</p>"
check "bob: text derived from html" "$(j "$b" 'd["text"].strip()')" "The deadline for Øving 3 is now fredag."
check "receiver points to the record" "$(j "$a" 'd["message"], d["context_type"], d["message_type"]')" "('$mid', 'deadline_moved', 'email')"
check_contains "round trip through show" "$(ms show "$a")" "Fristen for <b>Øving 3</b> er nå fredag."

# Escaping: html escaped, subject and text as they are.
cat > "$T/esc.yaml" <<'Y'
msgspool: 1
default_language: en
languages:
  en: {subject: "Re: {{title}}", html: "<p>{{title}}</p>", text: "{{title}}"}
vars: {title: "<script>alert(\"x\")</script> & 'q'"}
receivers: [{user: u, send_to: u@example.com}]
Y
ms compose "$T/esc.yaml" >/dev/null
u=$(byuser u)
check "html escaped" "$(j "$u" 'd["html"]')" "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;</p>"
check "subject as is" "$(j "$u" 'd["subject"]')" "Re: <script>alert(\"x\")</script> & 'q'"
check "text as is" "$(j "$u" 'd["text"]')" "<script>alert(\"x\")</script> & 'q'"

# Every error leaves the spool exactly as it was (tmp/ included).
before=$(snapshot)
bad() { # NAME WANT YAML
	printf '%s\n' "$3" > "$T/bad.yaml"
	check_rc "error: $1" 65 ms compose "$T/bad.yaml"
	check_contains "error: $1: message" "$(cat "$T/err")" "$2"
	check "error: $1: spool unchanged" "$(snapshot)" "$before"
}
HEAD='msgspool: 1
default_language: en'
bad "unknown var" "receivers[1] (b): subject (en): unknown variable 'nope'" "$HEAD
languages: {en: {subject: '{{x}} {{nope}}', text: t}}
vars: {x: 1}
receivers: [{user: a, send_to: a@example.com, vars: {nope: here}}, {user: b, send_to: b@example.com}]"
bad "unclosed" "text (en): unclosed {{" "$HEAD
languages: {en: {subject: s, text: 'Hi {{name'}}
receivers: [{user: a, send_to: a@example.com}]"
bad "CR/LF into the subject" "subject (en): a variable put a line break into the subject" "$HEAD
languages: {en: {subject: 'Hi {{name}}', text: t}}
receivers: [{user: a, send_to: a@example.com, vars: {name: \"x\\r\\nBcc: evil@example.com\"}}]"
bad "bad address late" "receivers[2] (c): send_to: 'nobody' is not a valid address" "$HEAD
languages: {en: {subject: s, text: t}}
receivers: [{user: a, send_to: a@example.com}, {user: b, send_to: b@example.com}, {user: c, send_to: nobody}]"
bad "missing default" "default_language: must name one of the languages" "msgspool: 1
default_language: fr
languages: {en: {subject: s, text: t}}
receivers: [{send_to: a@example.com}]"
bad "unknown key" "recievers: unknown key" "$HEAD
languages: {en: {subject: s, text: t}}
recievers: [{send_to: a@example.com}]"
bad "no body" "languages.en: a subject and html or text are required" "$HEAD
languages: {en: {subject: s}}
receivers: [{send_to: a@example.com}]"
bad "not yaml" "bad.yaml:" "msgspool: [1"
check_rc "missing file" 66 ms compose "$T/nope.yaml"

bad "a priority that is a list" "priority: a single value is required" "$HEAD
priority: [high]
languages: {en: {subject: s, text: t}}
receivers: [{send_to: a@example.com}]"
bad "a priority nobody knows" "priority" "$HEAD
priority: urgent
languages: {en: {subject: s, text: t}}
receivers: [{send_to: a@example.com}]"

# Stdin.
printf '%s\nlanguages: {en: {subject: s, text: t}}\nreceivers: [{send_to: stdin@example.com}]\n' "$HEAD" | ms compose - > "$T/o"
check "compose -" "$(cut -d' ' -f2- "$T/o")" "1 receivers"

# The message's schedule and priority reach every receiver.
rm -f "$T"/spool/new/*
printf '%s\nsend_after: "2030-01-01T08:00:00Z"\nexpires_at: "2030-01-02T08:00:00Z"\npriority: high\nlanguages: {en: {subject: s, text: t}}\nreceivers: [{send_to: s1@example.com}, {send_to: s2@example.com}]\n' "$HEAD" |
	ms compose - >/dev/null
for f in "$T"/spool/new/*.yaml; do
	id=$(basename "$f" .yaml)
	check "compose passes on the schedule and priority ($id)" \
		"$(ms show --json "$id" | py -c 'import json,sys; d=json.load(sys.stdin); print(d.get("send_after"), d.get("expires_at"), d.get("priority"))')" \
		"2030-01-01T08:00:00Z 2030-01-02T08:00:00Z high"
done
[ "$(count new)" = 2 ] && ok "two scheduled receivers" || fail "scheduled receivers: $(count new)"
rm -f "$T"/spool/new/*

# --- idempotency keys: processes racing on the same key ---
rm -f "$T"/spool/new/* "$T"/spool/messages/*
for round in 1 2 3; do
	for i in 1 2 3 4 5 6; do
		ms compose --key "race-$round" "$SRC/examples/compose-deadline.yaml" > "$T/race.$round.$i" 2>&1 &
	done
	wait
done
check "compose --key race: one record per key" "$(ls "$T/spool/messages" | wc -l)" 3
check "compose --key race: 3 receivers per key" "$(count new)" 9
check "compose --key race: every run said the same" "$(cat "$T"/race.*.* | grep -v warning | cut -d' ' -f2- | sort -u)" "3 receivers"
check "compose --key race: the losers said so" "$(cat "$T"/race.*.* | grep -c 'was used before')" 15
check "compose --key race: tmp/ clean" "$(ls "$T/spool/tmp" | wc -l)" 0
check_rc "compose --key again" 0 ms compose --key race-1 "$SRC/examples/compose-deadline.yaml"
check_contains "says what exists" "$(cat "$T/err")" "message k-"
rm -f "$T"/spool/new/* "$T"/spool/messages/*
for i in $(seq 8); do
	printf 'Hi\n' | ms enqueue --key "order-4711" --to buyer@example.com --subject "Receipt" --text-file - > "$T/eq.$i" 2>&1 &
done
wait
check "enqueue --key race: one receiver" "$(count new)" 1
check "enqueue --key race: all print its id" "$(grep -hv warning "$T"/eq.* | sort -u | wc -l)" 1
check "enqueue --key: the id" "$(grep -hv warning "$T"/eq.* | sort -u)" "$(ls "$T/spool/new" | sed 's/.yaml$//')"
ms send >/dev/null
printf 'Hi\n' | ms enqueue --key "order-4711" --to buyer@example.com --subject "Receipt" --text-file - >/dev/null 2>&1
check "enqueue --key after it was sent: still one" "$(count new):$(count sent)" "0:1"

# --- crashes: before the commit nothing appears; after it, recovery finishes ---
rm -f "$T"/spool/*/*
MSGSPOOL_TEST_STOP=compose-staged ms compose "$SRC/examples/compose-deadline.yaml" >/dev/null 2>&1
check "crash before commit: nothing in new/" "$(count new)" 0
check "crash before commit: no record" "$(ls "$T/spool/messages" | wc -l)" 0
check "crash before commit: only staged tmp/ files" "$(ls "$T/spool/tmp" | grep -c '\.staged$')" 3
ms list > "$T/o"; check "staged files are not receivers" "$(tail -1 "$T/o")" "0 message receivers"
rm -f "$T"/spool/tmp/*
MSGSPOOL_TEST_STOP=compose-committed ms compose "$SRC/examples/compose-deadline.yaml" >/dev/null 2>&1
check "crash after commit: record says publishing" "$(grep -c '^publishing:' "$T"/spool/messages/*.yaml)" 1
check "crash after commit: none in new/ yet" "$(count new)" 0
check_rc "send finishes the batch" 0 ms send
check "recovered: all three sent" "$(count sent)" 3
check "recovered: record finished" "$(grep -c '^publishing:' "$T"/spool/messages/*.yaml)" 0
check "recovered: tmp/ clean" "$(ls "$T/spool/tmp" | wc -l)" 0

# --- ten thousand receivers in one run ---
py - > "$T/big.yaml" <<'PY'
print("msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: 'Hello {{name}}', html: '<p>Dear {{name}}, see <a href=\"https://e.org/{{n}}\">this</a>.</p>'}\n  nb: {subject: 'Hei {{name}}', html: '<p>Kjære {{name}}</p>'}\nreceivers:")
for i in range(10000):
    print("  - {user: u%d, send_to: u%d@example.com, language: %s, vars: {name: 'User %d', n: %d}}" % (i, i, "nb" if i % 3 == 0 else "en", i, i))
PY
rm -f "$T"/spool/*/*
check_rc "compose 10000" 0 ms compose "$T/big.yaml"
check "10000 receivers" "$(count new)" 10000
check "10000: count printed" "$(cut -d' ' -f2- "$T/out")" "10000 receivers"

check_rc "compose --help" 0 ms compose --help
finish
