#!/bin/bash
# run-all: the whole test suite, as CI runs it. Installs what is missing,
# then builds and checks three ways: gcc with -Werror, clang with ASan and
# UBSan, and make distcheck. Prints one summary line per build.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
sh tests/install-deps.sh
# An in-tree build blocks the out-of-tree ones below.
[ -f config.status ] && make -s distclean >/dev/null 2>&1
[ -x configure ] || autoreconf -fi
jobs=$(nproc)

run_build() {
	name=$1
	shift
	echo "=== build: $name"
	rm -rf "build/$name"
	mkdir -p "build/$name"
	rc=0
	(cd "build/$name" && "$top/configure" -q "$@" >/dev/null && make -s -j"$jobs" >/dev/null &&
		make -s -j"$jobs" check >/dev/null 2>&1) || rc=1
	# Each test's own closing line: Check's, and our scripts' "N passed, N failed".
	for log in "build/$name"/tests/*.log; do
		[ -f "$log" ] || continue
		line=$(grep -E '^[0-9]+%: Checks:|^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		echo "  $(basename "$log" .log): ${line:-no summary}"
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
		echo "=== $name: FAILED"
		grep -hE 'FAIL|:F:|:E:|ERROR|runtime error|Sanitizer' "build/$name"/tests/*.log "build/$name"/config.log 2>/dev/null | head -40
		TOTAL_F=$((TOTAL_F + 1))
		return 1
	fi
	echo "=== $name: passed"
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
	if (cd build/gcc && make -s distcheck >/dev/null 2>&1); then
		echo "=== distcheck: passed"
	else
		echo "=== distcheck: FAILED"
		status=1
		TOTAL_F=$((TOTAL_F + 1))
	fi
fi
echo "=== fuzz (libFuzzer, ${FUZZ_RUNS:-400000} inputs per target, seed ${FUZZ_SEED:-1})"
fuzz_rc=0
bash tests/fuzz.sh > build/fuzz.log 2>&1 || fuzz_rc=1
[ $fuzz_rc -eq 0 ] || status=1
if [ $fuzz_rc -ne 0 ]; then
	sed 's/^/  /' build/fuzz.log # the whole report: a fuzz failure is not reproducible otherwise
else
	grep -E '^fuzz' build/fuzz.log | sed 's/^/  /'
fi
line=$(grep -E '^fuzz: [0-9]+ passed' build/fuzz.log | tail -1)
TOTAL_P=$((TOTAL_P + $(echo "$line" | sed -nE 's/^fuzz: ([0-9]+) passed.*/\1/p')))
TOTAL_F=$((TOTAL_F + $(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')))
echo "all: $TOTAL_P passed, $TOTAL_F failed"
exit $status
