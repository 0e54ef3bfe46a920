#!/bin/bash
# roundtrip: random receivers (tests/roundtrip.py) written into new/, sent
# with the maildir transport, and read back by Python's email package, by
# Perl's Email::MIME (tests/roundtrip.pl) and by libetpan's own parser
# (tests/roundtrip_etpan.c): every subject, display name and custom header
# decodes to exactly what the producer wrote, with no defect and no line
# over 998 octets (libetpan: or differs in whitespace alone, which its
# decoder keeps only inside encoded-words; counted apart). Then the display
# names no 7-bit header can say exactly to both Python and Perl are shown
# to be so: every way of writing a few short ones is tried
# (roundtrip.py prove-generate).
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
"$BLD/tests/roundtrip_etpan" "$T/outbox/new" > "$T/etpan.json"
check "libetpan reads every message" "$?" 0
out=$(py "$SRC/tests/roundtrip.py" check "$T/outbox/new" "$T/gen/cases.json" "$T/perl.json" "$T/etpan.json")
rc=$?
echo "$out" | head -60
check "every field decodes to the producer's string (seed $SEED)" "$rc" 0
py "$SRC/tests/roundtrip.py" prove-generate "$T/phrases.json"
perl "$SRC/tests/roundtrip.pl" --phrases "$T/phrases.json" > "$T/phrases-perl.json"
"$BLD/tests/roundtrip_etpan" --phrases "$T/phrases.json.lines" > "$T/phrases-etpan.json"
out=$(py "$SRC/tests/roundtrip.py" prove-check "$T/phrases.json" "$T/phrases-perl.json" "$T/phrases-etpan.json")
rc=$?
echo "$out"
check "no header says the unsayable names to both, some say the others" "$rc" 0
finish
