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
printf '  helo: "bad name"\n' >> "$MSGSPOOL_CONFIG"
check_rc "an invalid smtp.helo" 78 ms send
check_contains "invalid helo named" "$(cat "$T/err")" "smtp.helo: 'bad name' is neither a fully qualified domain name nor an address literal"
finish
