#!/bin/bash
# roundtrip: random receivers (tests/roundtrip.py) written into new/, sent
# with the maildir transport, and read back by Python's email package and
# by Perl's Email::MIME (tests/roundtrip.pl): every subject, display name
# and custom header decodes to exactly what the producer wrote, with no
# defect and no line over 998 octets.
. "${top_srcdir:-.}/tests/lib.sh"
N=${ROUNDTRIP_N:-400}
SEED=${ROUNDTRIP_SEED:-$RANDOM}
ms init >/dev/null
mkdir -p "$T/gen"
py "$SRC/tests/roundtrip.py" generate "$T/gen" "$N" "$SEED"
cat > "$T/hdr.yaml" <<Y
spool: $T/spool
transport: maildir
subject_prefix: "[Devilry] "
from: "Devilry <noreply@example.org>"
maildir:
  path: $T/outbox
Y
mv "$T"/gen/rt*.yaml "$T/spool/new/"
check_rc "send $N random receivers (seed $SEED)" 0 ms -c "$T/hdr.yaml" send
check "all sent" "$(count sent)" "$N"
perl "$SRC/tests/roundtrip.pl" "$T/outbox/new" > "$T/perl.json"
check "Email::MIME reads every message" "$?" 0
out=$(py "$SRC/tests/roundtrip.py" check "$T/outbox/new" "$T/gen/cases.json" "$T/perl.json")
rc=$?
echo "$out" | head -60
check "every field decodes to the producer's string (seed $SEED)" "$rc" 0
finish
