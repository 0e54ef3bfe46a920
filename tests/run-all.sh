#!/bin/bash
# run-all: the whole test suite, as CI runs it. Installs what is missing,
# then builds and checks three ways: gcc with -Werror, clang with ASan and
# UBSan, and make distcheck. Prints one summary line per test (with its
# wall time) and per build (with the build's).
#
# Time: most tests wait on real time (a server's delay, smtp.rate, a
# timeout, a daemon's rescan), not on the CPU, so make check runs
# TEST_JOBS of them at once (default 4 per core); the tests share no port
# (free_port), spool or mount. distcheck builds the tarball and runs
# Makefile.am's DISTCHECK_TESTS in it, not the whole suite a third time: the
# other tests already ran in the two builds above from the same files, and
# every file git tracks is checked to be in the tarball (so no test can
# lack a file there). TEST_JOBS=1 runs one test at a time.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
sh tests/install-deps.sh
# An in-tree build blocks the out-of-tree ones below.
[ -f config.status ] && make -s distclean >/dev/null 2>&1
[ -x configure ] || autoreconf -fi
jobs=$(nproc)
test_jobs=${TEST_JOBS:-$((jobs * 4))}
# Check's per-test timeout (4 s) guards against a hang; with tests side by
# side a CPU-heavy unit test can take longer on a busy machine.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}
# Each test through this wrapper: its log ends with its wall time.
mkdir -p build
cat > build/timed <<'SH'
#!/bin/bash
start=$(date +%s%N)
"$@"
rc=$?
echo "# wall time: $((($(date +%s%N) - start) / 1000000)) ms"
exit $rc
SH
chmod +x build/timed
leg_start=0
leg_time() { echo "$((SECONDS - leg_start)) s"; }

run_build() {
	name=$1
	shift
	echo "=== build: $name"
	leg_start=$SECONDS
	rm -rf "build/$name"
	mkdir -p "build/$name"
	rc=0
	(cd "build/$name" && "$top/configure" -q "$@" >/dev/null && make -s -j"$jobs" >/dev/null &&
		make -s -j"$test_jobs" check LOG_COMPILER="$top/build/timed" >/dev/null 2>&1) || rc=1
	# Each test's own closing line: Check's, and our scripts' "N passed, N failed".
	for log in "build/$name"/tests/*.log "build/$name"/tests/*/*.log; do
		[ -f "${log%.log}.trs" ] || continue # a test's log, not one a test left
		line=$(grep -E '^[0-9]+%: Checks:|^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		ms=$(sed -n 's/^# wall time: \([0-9]*\) ms$/\1/p' "$log" | tail -1)
		t=${log#build/"$name"/tests/}
		echo "  ${t%.log}: ${line:-no summary}${ms:+ ($((ms / 1000)).$((ms % 1000 / 100)) s)}"
		p=$(echo "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/p')
		f=$(echo "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/p')
		if [ -z "$p" ]; then
			c=$(echo "$line" | sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p')
			set -- $c
			[ -n "$c" ] && { p=$(($1 - $2 - $3)); f=$(($2 + $3)); }
		fi
		TOTAL_P=$((TOTAL_P + ${p:-0}))
		TOTAL_F=$((TOTAL_F + ${f:-0}))
	done
	if [ $rc -ne 0 ]; then
		echo "=== $name: FAILED ($(leg_time))"
		grep -hE 'FAIL|:F:|:E:|ERROR|runtime error|Sanitizer' "build/$name"/tests/*.log "build/$name"/tests/*/*.log "build/$name"/config.log 2>/dev/null | head -40
		TOTAL_F=$((TOTAL_F + 1))
		return 1
	fi
	echo "=== $name: passed ($(leg_time))"
}
TOTAL_P=0
TOTAL_F=0

status=0
run_build gcc CC=gcc CFLAGS="-O2 -g -Werror" || status=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_build clang-asan CC=clang CFLAGS="-O1 -g -Werror" --enable-sanitizers || status=1
unset ASAN_OPTIONS UBSAN_OPTIONS
if [ $status -eq 0 ]; then
	echo "=== distcheck"
	leg_start=$SECONDS
	# The tarball's file list against git's (when this is a clone): all but .ci/.
	missing=""
	if (cd build/gcc && make -s -j"$test_jobs" distcheck TESTS='$(DISTCHECK_TESTS)' >../distcheck.log 2>&1); then
		if git rev-parse --git-dir >/dev/null 2>&1; then
			missing=$(comm -23 <(git -c core.quotePath=off ls-files | grep -v -e '^\.ci/' -e '^\.gitignore$' | sort) \
				<(tar tzf build/gcc/msgspool-*.tar.gz | sed 's|^[^/]*/||' | sort))
		fi
	else
		missing="(distcheck failed)"
		tail -30 build/distcheck.log
		# distcheck leaves its tree behind when it fails: the failing
		# tests' own lines, which the summary above does not carry.
		for log in build/gcc/msgspool-*/_build/sub/tests/*.log; do
			[ -f "$log" ] || continue
			case "$log" in */test-suite.log) continue ;; esac
			grep -q '^FAIL\|^ERROR' "$log" 2>/dev/null || [ "$(sed -n 's/^:test-result: //p' "${log%.log}.trs" 2>/dev/null)" = FAIL ] || continue
			echo "--- $log"
			grep -v '^ok - ' "$log" | tail -40
		done
	fi
	if [ -z "$missing" ]; then
		echo "=== distcheck: passed ($(leg_time))"
	else
		echo "=== distcheck: FAILED ($(leg_time)); not in the tarball: $missing"
		status=1
		TOTAL_F=$((TOTAL_F + 1))
	fi
fi
echo "=== fuzz (libFuzzer, ${FUZZ_RUNS:-400000} inputs per target, seed ${FUZZ_SEED:-1})"
leg_start=$SECONDS
# A libFuzzer run uses one core: the targets (fuzz.sh's list) go in one
# group per core, the groups side by side, each the same work as alone.
targets=${FUZZ_TARGETS:-$(sed -n 's/^for t in \(.*\); do$/\1/p' tests/fuzz.sh)}
rm -f build/fuzz.*.log build/fuzz.*.targets
fuzz_rc=0
fuzz_pids=""
g=0
for t in $targets; do
	echo "$t" >> "build/fuzz.$((g % jobs)).targets"
	g=$((g + 1))
done
for f in build/fuzz.*.targets; do
	[ -f "$f" ] || continue
	group=$(tr '\n' ' ' < "$f")
	rm -f "$f"
	FUZZ_TARGETS="$group" bash tests/fuzz.sh > "${f%.targets}.log" 2>&1 &
	fuzz_pids="$fuzz_pids $!"
done
for p in $fuzz_pids; do wait "$p" || fuzz_rc=1; done
cat build/fuzz.*.log > build/fuzz.log 2>/dev/null || true
[ $fuzz_rc -eq 0 ] || status=1
if [ $fuzz_rc -ne 0 ]; then
	sed 's/^/  /' build/fuzz.log # the whole report: a fuzz failure is not reproducible otherwise
else
	grep -E '^fuzz [a-z0-9_]+:' build/fuzz.log | sed 's/^/  /'
fi
fp=0
ff=0
for line in $(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed.*/\1:\2/p' build/fuzz.log); do
	fp=$((fp + ${line%:*}))
	ff=$((ff + ${line#*:}))
done
[ $fuzz_rc -ne 0 ] && [ $ff -eq 0 ] && ff=1 # it ended without its summary
echo "=== fuzz: $fp passed, $ff failed ($(leg_time))"
TOTAL_P=$((TOTAL_P + fp))
TOTAL_F=$((TOTAL_F + ff))
echo "all: $TOTAL_P passed, $TOTAL_F failed"
exit $status
