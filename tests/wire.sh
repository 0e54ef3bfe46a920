#!/bin/bash
# wire: what msgspool says on the wire, checked at a scripted aiosmtpd
# server: the EHLO name (smtp.helo, else the host's FQDN, else refuse to
# start), and QUIT waiting for the 221.
. "${top_srcdir:-.}/tests/lib.sh"

start_smtpd s --record-quit || { fail "smtpd"; finish; exit 1; }
smtp_conf "$PORT"
ms init >/dev/null

# --- EHLO name ---
id=$(enq helo@example.com)
check_rc "send with smtp.helo" 0 ms send
check "EHLO carries smtp.helo" "$(head -1 "$OUT"/*.helo)" "client.test.example"
check "sent" "$(status_of "$id")" sent
check "QUIT waited for the 221" "$(cat "$OUT/quit.log" 2>/dev/null)" "waited-for-221"

# No smtp.helo: the host's fully qualified name, or refuse to start.
HELO=client.test.example smtp_conf "$PORT"
sed -i '/^  helo:/d' "$MSGSPOOL_CONFIG"
sed -i '1i daemon: {user: root}' "$MSGSPOOL_CONFIG"
if [ "$(id -u)" = 0 ] && unshare -u true 2>/dev/null; then
	rm -f "$OUT"/*.helo
	id=$(enq fqdn@example.com)
	check_rc "send with an FQDN host name" 0 unshare -u sh -c 'hostname host1.test.example && exec "$0" send' "$BLD/msgspool"
	check "EHLO carries the host's FQDN" "$(head -1 "$OUT"/*.helo)" "host1.test.example"
	id=$(enq short@example.com)
	check_rc "send refuses without an FQDN" 78 unshare -u sh -c 'hostname shortxyz && exec "$0" send' "$BLD/msgspool"
	check_contains "says to set smtp.helo" "$(cat "$T/err")" "cannot find this host's fully qualified name (the host name is 'shortxyz'); set smtp.helo"
	check "receiver untouched" "$(status_of "$id")" not_sent
	check_rc "msgspoold refuses to start without an FQDN" 78 timeout 20 unshare -u sh -c 'hostname shortxyz && exec "$0" --foreground' "$BLD/msgspoold"
	check_contains "msgspoold says to set smtp.helo" "$(cat "$T/err")" "set smtp.helo"
else
	fail "the FQDN cases need root and unshare -u (a UTS namespace)"
fi
# --- what enqueue refuses at once (exit 65), rather than error/ later ---
smtp_conf "$PORT" "  max_message_size: 3000"
n0=$(count new)
rcv() { printf 'msgspool: 1\nsend_to: %s\nsubject: s\ntext: "hello"\n%s\n' "$1" "$2"; }
check_rc "a header outside the safe list" 65 sh -c "printf '%s' \"\$0\" | '$BLD/msgspool' enqueue -" "$(rcv a@example.com 'headers: {Bcc: evil@example.com}')"
check_contains "names the header" "$(cat "$T/err")" "headers: Bcc is not in the list of headers a receiver may set"
check_rc "two headers differing in case" 65 sh -c "printf '%s' \"\$0\" | '$BLD/msgspool' enqueue -" "$(rcv a@example.com 'headers: {X-Tag: a, x-tag: b}')"
check_contains "says given twice" "$(cat "$T/err")" "headers: x-tag is given twice"
check_rc "a structured header not ASCII" 65 sh -c "printf '%s' \"\$0\" | '$BLD/msgspool' enqueue -" "$(rcv a@example.com 'headers: {List-Id: "Øving <x.example.org>"}')"
check_contains "says ASCII" "$(cat "$T/err")" "List-Id is a structured header and must be printable ASCII"
check_rc "a bad from" 65 sh -c "printf '%s' \"\$0\" | '$BLD/msgspool' enqueue -" "$(rcv a@example.com 'from: "\"unclosed <a@example.org>"')"
check_contains "names from" "$(cat "$T/err")" "from: "
head -c 4000 /dev/zero | tr '\0' 'x' > "$T/big.txt"
check_rc "larger than smtp.max_message_size" 65 ms enqueue --to a@example.com --subject s --text-file "$T/big.txt"
check_contains "says the size" "$(cat "$T/err")" "bytes, more than smtp.max_message_size (3000)"
printf 'msgspool: 1\ndefault_language: en\nlanguages:\n  en: {subject: s, text: "%s"}\nreceivers: [{user: u, send_to: u@example.com}]\n' "$(cat "$T/big.txt")" > "$T/big-compose.yaml"
check_rc "compose larger than smtp.max_message_size" 65 ms compose "$T/big-compose.yaml"
check_contains "compose says the size" "$(cat "$T/err")" "more than smtp.max_message_size (3000)"
check "nothing written" "$(count new)" "$n0"

# --- addresses and structured headers on the wire ---
rm -f "$OUT"/*
printf '%s' 'msgspool: 1
send_to: jd@bücher.example
subject: s
text: hello
from: "\"John \\\"JD\\\" Doe\" <jd@example.org> (a comment)"
reply_to: "Help Desk <help@example.org>"
headers:
  List-Unsubscribe: "<https://example.org/u?a=1&b=2>, <mailto:unsub@example.org?subject=unsubscribe>"
  List-Unsubscribe-Post: List-Unsubscribe=One-Click
  X-Course: "Øving 3 –  «viktig»"
' > "$T/addr.yaml"
idn=$(ms enqueue - < "$T/addr.yaml")
check "enqueue with quoted display names" "$?" 0
ms send >/dev/null 2>&1
check "sent" "$(status_of "$idn")" sent
f=$(grep -l "bcher" "$OUT"/*.env | sed 's/\.env$/.eml/')
check "envelope in A-labels" "$(cat "${f%.eml}.env")" "$(printf 'jd@example.org\njd@xn--bcher-kva.example')"
py "$SRC/tests/parse_mail.py" "$f" > "$T/m.json"
j() { py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/m.json" "$1"; }
check "from display name unescaped" "$(j 'd["from"]')" '"John \"JD\" Doe" <jd@example.org>'
check "reply-to display name" "$(j 'd["reply_to"]')" "Help Desk <help@example.org>"
check "To in A-labels" "$(j 'd["to"]')" "jd@xn--bcher-kva.example"
check "custom header decodes exactly" "$(j 'd["headers"]["X-Course"]')" "Øving 3 –  «viktig»"
check "no defects" "$(j 'd["defects"]')" "[]"
check "List-Unsubscribe as it is" "$(j 'd["headers"]["List-Unsubscribe"]')" "<https://example.org/u?a=1&b=2>, <mailto:unsub@example.org?subject=unsubscribe>"
check "structured headers never encoded" "$(grep -a -A1 '^List-Unsubscribe:' "$f" | grep -c '=?')" 0
check "List-Unsubscribe-Post as it is" "$(grep -a '^List-Unsubscribe-Post:' "$f" | tr -d '\r')" "List-Unsubscribe-Post: List-Unsubscribe=One-Click"

# --- each part in the smallest correct transfer encoding ---
printf 'Hello,\nshort ASCII lines.\n' > "$T/ascii.txt"
printf 'Fristen for øving 3 er flyttet til fredag.\nHilsen faglæreren\n' > "$T/nb.txt"
printf '課題3の締め切りは金曜日に変更されました。\nよろしくお願いします。\n' > "$T/ja.txt"
encodings() { # SERVER-ARGS... then KIND:ENCODING pairs after --
	local args=() k f
	while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
	start_smtpd "enc${#args[@]}" "${args[@]}" || return
	smtp_conf "$PORT"
	# The first message goes before the server's EHLO is known: 7 bits.
	ms enqueue --to first@example.com --subject s --text-file "$T/ascii.txt" >/dev/null
	for k in ascii nb ja; do ms enqueue --to "$k@example.com" --subject s --text-file "$T/$k.txt" >/dev/null; done
	ms send >/dev/null 2>&1
	for k in "$@"; do
		f=$(grep -l "^${k%%:*}@" "$OUT"/*.env | sed 's/\.env$/.eml/')
		py "$SRC/tests/parse_mail.py" "$f" > "$T/p.json"
		check "${args[*]:-8BITMIME}: ${k%%:*} in ${k#*:}" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["parts"][0]["cte"])' "$T/p.json")" "${k#*:}"
		check "${args[*]:-8BITMIME}: ${k%%:*} arrives exactly" "$(py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["parts"][0]["body"].replace("\r\n", "\n") == open(sys.argv[2], encoding="utf-8").read(), d["defects"])' "$T/p.json" "$T/${k%%:*}.txt")" "True []"
		case ${k#*:} in 8bit) check "BODY=8BITMIME with an 8bit part" "$(sed -n 2p "${f%.eml}.helo")" "SIZE=$(wc -c < "$f") BODY=8BITMIME" ;; esac
	done
}
encodings --no-8bitmime -- ascii:7bit nb:quoted-printable ja:base64
encodings -- ascii:7bit nb:8bit ja:8bit

sed -i '/^  helo:/d' "$MSGSPOOL_CONFIG"
printf '  helo: "bad name"\n' >> "$MSGSPOOL_CONFIG"
check_rc "an invalid smtp.helo" 78 ms send
check_contains "invalid helo named" "$(cat "$T/err")" "smtp.helo: 'bad name' is neither a fully qualified domain name nor an address literal"
finish
