#!/bin/bash
# powercut: msgspoold and producers on a file system that loses what was not
# made durable (pcfs.py, FUSE), with the power cut at random points; first
# the self-test that proves pcfs loses exactly that. Needs root, /dev/fuse
# and python3-pyfuse3 (tests/install-deps.sh).
#   tests/powercut/run.sh [--cuts N] [--receivers N] [--seed S]
# Default (make check): 50 cuts over 250 receivers. The full run is
# --cuts 1000 --receivers 5000.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
SRC=$(cd "$top_srcdir" && pwd)
BLD=$(cd "$top_builddir" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for FUSE mounts (not counted as a pass)"
	exit 77
fi
if [ ! -c /dev/fuse ] || ! /usr/bin/python3 -c 'import pyfuse3, trio' 2>/dev/null; then
	echo "FAIL - /dev/fuse or python3-pyfuse3 missing (tests/install-deps.sh installs it)"
	echo "0 passed, 1 failed"
	exit 1
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/msgspool-powercut.XXXXXX")
cleanup() {
	for m in "$W"/self/mnt "$W"/windows/*/mnt "$W"/run/mnt; do umount -l "$m" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
cd "$SRC/tests/powercut" || exit 1
/usr/bin/python3 selftest.py "$W/self" > "$W/self.out" 2>&1
src=$?
cat "$W/self.out"
/usr/bin/python3 windows.py --build "$BLD" --work "$W/windows" > "$W/windows.out" 2>&1
wrc=$?
cat "$W/windows.out"
/usr/bin/python3 run.py --build "$BLD" --src "$SRC" --work "$W/run" --cuts 50 --receivers 250 "$@"
rrc=$?
if [ $rrc -ne 0 ]; then
	echo "# daemon log tail:"
	tail -n 40 "$W/run/msgspoold.log" 2>/dev/null
fi
p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$W/self.out")
f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$W/self.out")
wp=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$W/windows.out")
wf=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$W/windows.out")
p=$((${p:-0} + ${wp:-0}))
f=$((${f:-1} + ${wf:-1}))
[ $rrc -eq 0 ] && p=$((p + 1)) || f=$((f + 1))
echo "$p passed, $f failed"
[ $src -eq 0 ] && [ $wrc -eq 0 ] && [ $rrc -eq 0 ]
