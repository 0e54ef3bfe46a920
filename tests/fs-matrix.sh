#!/bin/bash
# fs-matrix: the spool's tests on ext4 (with and without its journal), xfs,
# btrfs and tmpfs. Each file
# system is made by this test (mkfs into an image file under the build
# directory, on a loop device) and mounted; then, with TMPDIR on it:
#   - a probe of the calls the spool relies on: renameat2 RENAME_EXCHANGE
#     and RENAME_NOREPLACE, fsync of a directory, flock, O_EXCL, link;
#   - the Check unit tests of the spool (CK_RUN_SUITE=spool);
#   - a short daemon run: receivers produced, msgspoold sends them to
#     tests/smtpd.py, each arrives once and ends in sent/; and the daemon
#     says whether this file system keeps renames whole and in order (ext4
#     with its journal, xfs, tmpfs) or its claims are fenced (ext4 without
#     a journal, btrfs).
# The second ext4 is named ext4-nojournal.
# A file system the kernel lacks is skipped and said so; a skip is counted
# apart and is not a pass. Needs root (loop devices, mount).
#   tests/fs-matrix.sh [FS...]   (default: ext4 ext4-nojournal xfs btrfs tmpfs)
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
SRC=$(cd "$top_srcdir" && pwd)
BLD=$(cd "$top_builddir" && pwd)
PASSED=0
FAILED=0
SKIPPED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP - $* (not a pass)"; }

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root for loop devices and mounts (not counted as a pass)"
	exit 77
fi
W="$BLD/tests/fs-matrix.d"
MNT="$W/mnt"
LOOP=""
cleanup() {
	[ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null
	mountpoint -q "$MNT" && umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
rm -rf "$W"
mkdir -p "$MNT"

# kernel_has FS: the kernel offers FS (built in or as a module it can load).
kernel_has() {
	grep -qw "$1" /proc/filesystems && return 0
	modprobe "$1" 2>/dev/null && grep -qw "$1" /proc/filesystems
}

# mount_fs FS: an image under the build directory, made and mounted on $MNT.
mount_fs() {
	local fs=$1 img="$W/$1.img" size=256M
	if [ "$fs" = tmpfs ]; then
		mount -t tmpfs -o size=256m tmpfs "$MNT"
		return
	fi
	[ "$fs" = xfs ] && size=320M # mkfs.xfs refuses less than 300 MB
	[ "$fs" = ext4-nojournal ] && fs=ext4
	rm -f "$img"
	truncate -s "$size" "$img" || return 1
	LOOP=$(losetup -f --show "$img") || return 1
	case $fs in
	ext4) mkfs.ext4 -q -F ${NOJOURNAL:+-O ^has_journal} "$LOOP" ;;
	xfs) mkfs.xfs -q -f "$LOOP" ;;
	btrfs) mkfs.btrfs -q -f "$LOOP" ;;
	esac >"$W/mkfs.log" 2>&1 || { cat "$W/mkfs.log"; return 1; }
	mount -t "$fs" "$LOOP" "$MNT"
}

umount_fs() {
	umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	LOOP=""
	rm -f "$W"/*.img
}

# probe: the system calls the spool needs, on the mounted file system.
probe() {
	/usr/bin/python3 - "$MNT" <<'PY'
import ctypes, errno, fcntl, os, sys
d = os.path.join(sys.argv[1], "probe")
os.mkdir(d)
libc = ctypes.CDLL(None, use_errno=True)
def renameat2(a, b, flags):
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), flags) != 0:
        return ctypes.get_errno()
    return 0
def put(name, data):
    fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, data); os.fsync(fd); os.close(fd)
put("a", b"A"); put("b", b"B")
bad = []
if renameat2(os.path.join(d, "a"), os.path.join(d, "b"), 1) != errno.EEXIST:
    bad.append("RENAME_NOREPLACE did not refuse an existing name")
if renameat2(os.path.join(d, "a"), os.path.join(d, "c"), 1) != 0 or not os.path.exists(os.path.join(d, "c")):
    bad.append("RENAME_NOREPLACE did not rename")
rc = renameat2(os.path.join(d, "c"), os.path.join(d, "b"), 2)
if rc != 0 or open(os.path.join(d, "b"), "rb").read() != b"A" or open(os.path.join(d, "c"), "rb").read() != b"B":
    bad.append("RENAME_EXCHANGE failed: %s" % (os.strerror(rc) if rc else "contents not swapped"))
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
try:
    os.fsync(fd)
except OSError as e:
    bad.append("fsync of a directory: %s" % e)
os.close(fd)
try:
    put("b", b"x"); bad.append("O_EXCL did not refuse")
except FileExistsError:
    pass
os.link(os.path.join(d, "b"), os.path.join(d, "l"))
if os.stat(os.path.join(d, "b")).st_nlink != 2:
    bad.append("link count")
f1 = os.open(os.path.join(d, "b"), os.O_RDONLY); f2 = os.open(os.path.join(d, "b"), os.O_RDONLY)
fcntl.flock(f1, fcntl.LOCK_EX)
try:
    fcntl.flock(f2, fcntl.LOCK_EX | fcntl.LOCK_NB); bad.append("flock not exclusive")
except BlockingIOError:
    pass
print("; ".join(bad) if bad else "renameat2 NOREPLACE and EXCHANGE, directory fsync, O_EXCL, link, flock")
sys.exit(1 if bad else 0)
PY
}

# daemon_run FS: N receivers through msgspoold to smtpd, on the mount.
daemon_run() {
	local t="$MNT/daemon" n=60 port
	mkdir -p "$t/out"
	port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	/usr/bin/python3 "$SRC/tests/smtpd.py" --port "$port" --out "$t/out" --ready "$t/ready" --pipelining >"$t/smtpd.log" 2>&1 &
	SPID=$!
	cat >"$t/conf.yaml" <<CONF
spool: $t/spool
transport: smtp
from: "Matrix <noreply@example.org>"
daemon:
  user: root
  idle_close: 1
  rescan_interval: 5
smtp:
  host: 127.0.0.1
  port: $port
  timeout: 5
  helo: client.test.example
CONF
	chmod 0640 "$t/conf.yaml"
	export MSGSPOOL_CONFIG="$t/conf.yaml"
	for _ in $(seq 50); do [ -f "$t/ready" ] && break; sleep 0.1; done
	"$BLD/msgspool" init >/dev/null || return 1
	for i in $(seq $n); do
		printf 'Hello %d.\n' "$i" | "$BLD/msgspool" enqueue --to "m$i@example.com" --subject "Matrix $i" --text-file - >/dev/null || return 1
	done
	# Its flushes counted (strace: what a directory's fsync names).
	local trace=""
	command -v strace >/dev/null && trace="strace -f -qq -y -e trace=fsync -o $t/fsync.log"
	env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" $trace "$BLD/msgspoold" --foreground >"$t/daemon.log" 2>&1 &
	local dpid=$!
	for _ in $(seq 300); do
		[ "$(ls "$t/spool/sent" | grep -c '\.yaml$')" = $n ] && break
		sleep 0.1
	done
	# Under strace the daemon is strace's child: it is the one stopped.
	if [ -n "$trace" ]; then kill $(pgrep -P "$dpid") 2>/dev/null; else kill "$dpid"; fi
	wait "$dpid"
	kill "$SPID"
	wait "$SPID" 2>/dev/null
	SPID=""
	local sent got distinct
	sent=$(ls "$t/spool/sent" | grep -c '\.yaml$')
	got=$(for f in "$t"/out/*.env; do sed -n 2p "$f"; done | wc -l)
	distinct=$(for f in "$t"/out/*.env; do sed -n 2p "$f"; done | sort -u | wc -l)
	unset MSGSPOOL_CONFIG
	if [ -f "$t/fsync.log" ]; then
		grep -c "<$t/spool/active>" "$t/fsync.log" >"$t/fsync.active"
		grep -c "<$t/spool/new>" "$t/fsync.log" >"$t/fsync.new"
	fi
	if [ "$sent" = $n ] && [ "$got" = $n ] && [ "$distinct" = $n ]; then
		echo "$n receivers sent, each received once"
		return 0
	fi
	echo "sent/ holds $sent, the server got $got ($distinct distinct) of $n; log: $(tail -n 5 "$t/daemon.log")"
	return 1
}

for fs in ${@:-ext4 ext4-nojournal xfs btrfs tmpfs}; do
	NOJOURNAL=""
	[ "$fs" = ext4-nojournal ] && NOJOURNAL=1
	base=${fs%-nojournal}
	if ! kernel_has "$base"; then
		skip "$fs: the kernel lacks it"
		continue
	fi
	if [ "$fs" != tmpfs ] && ! command -v "mkfs.$base" >/dev/null; then
		fail "$fs: mkfs.$base missing (tests/install-deps.sh installs it)"
		continue
	fi
	# Not in a subshell: LOOP must reach umount_fs and cleanup.
	if ! mount_fs "$fs" >"$W/mount.log" 2>&1; then
		fail "$fs: cannot make or mount it: $(cat "$W/mount.log")"
		[ -n "$LOOP" ] && losetup -d "$LOOP"
		LOOP=""
		continue
	fi
	if out=$(probe 2>&1); then ok "$fs: $out"; else fail "$fs: $out"; fi
	mkdir -p "$MNT/unit"
	if TMPDIR="$MNT/unit" CK_RUN_SUITE=spool "$BLD/tests/check_unit" >"$W/unit.log" 2>&1; then
		ok "$fs: Check spool suite: $(grep -o '[0-9]*%: Checks: [0-9]*.*' "$W/unit.log" | head -1)"
	else
		fail "$fs: Check spool suite: $(tail -n 15 "$W/unit.log")"
	fi
	if out=$(daemon_run "$fs" 2>&1); then ok "$fs: daemon: $out"; else fail "$fs: daemon: $out"; fi
	# What the daemon found: only ext4 without a journal needs the fence.
	said=$(sed -n 's/.*msgspoold\[[0-9]*\]: spool on //p' "$MNT/daemon/daemon.log")
	fenced="renames may reach the disk half done or out of order, claims are fenced"
	whole="renames reach the disk whole and in order, claims are not fenced"
	case $fs in
	ext4-nojournal) want="ext2/ext4 without a journal: $fenced" ;;
	ext4) want="ext4 with a journal: $whole" ;;
	btrfs) want="btrfs: $fenced" ;; # whole, but a directory's fsync logs that directory alone
	*) want="$fs: $whole" ;;
	esac
	case $said in
	"$want"*) ok "$fs: the daemon says: $said" ;;
	*) fail "$fs: the daemon says [$said], want [$want]" ;;
	esac
	# And does it: fenced, the claims flush active/ (up to 8 claimed at
	# once share a flush) and so do the groups of outcomes; whole, only
	# recovery at start and a group with no other target do.
	if [ -f "$MNT/daemon/fsync.active" ]; then
		fa=$(cat "$MNT/daemon/fsync.active") fn=$(cat "$MNT/daemon/fsync.new")
		case $want in
		*"not fenced"*) [ "$fa" -le 5 ] && [ "$fn" = 0 ] && ok "$fs: flushes: active/ $fa, new/ $fn" ||
			fail "$fs: flushes: active/ $fa (want at most 5), new/ $fn (want 0)" ;;
		*) [ "$fa" -ge 8 ] && [ "$fn" -ge 1 ] && ok "$fs: flushes: active/ $fa, new/ $fn" ||
			fail "$fs: flushes: active/ $fa (want 8 or more), new/ $fn (want 1 or more)" ;;
		esac
	else
		fail "$fs: strace missing (tests/install-deps.sh installs it): flushes not counted"
	fi
	umount_fs
done
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
