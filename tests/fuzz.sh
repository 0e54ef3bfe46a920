#!/bin/bash
# fuzz: libFuzzer (clang) runs of each target from the seed corpus, with
# ASan and UBSan. New interesting inputs are kept in a scratch corpus; a
# crash prints its input and fails. Run by tests/run-all.sh when clang is
# there.
#
# The suite's run is bounded by work, not time: a fixed seed (FUZZ_SEED,
# default 1) and a fixed number of inputs per target (FUZZ_RUNS, default
# 400000), so a slow or busy machine fuzzes as much as a fast one.
# FUZZ_SECONDS (default 300) only caps a machine that is very slow (a
# target takes 10-60 s on a quiet one; the line says when the cap hit). Runs
# with one seed are alike but not identical (measured: libFuzzer keeps
# 436 and 439 corpus inputs in two runs of 150,000), so a CI run can still
# find what a local run did not; its report holds the input.
# Exploring is another run: FUZZ_SEED=0 (random) FUZZ_RUNS=-1 (no limit)
# FUZZ_SECONDS=600, FUZZ_TARGETS="header mime" to pick some; put what it
# finds in tests/fuzz/corpus/TARGET/.
set -u
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-300}
SEED=${FUZZ_SEED:-1}
RUNS=${FUZZ_RUNS:-400000}
command -v clang >/dev/null || { echo "fuzz: no clang; skipped"; exit 0; }
B=$(mktemp -d /tmp/msgspool-fuzz.XXXXXX)
trap 'rm -rf "$B"' EXIT
# The configured config.h when there is one (in-tree or build/gcc), else
# the two things the sources need from it.
if [ -f config.h ]; then cp config.h "$B/"
elif [ -f build/gcc/config.h ]; then cp build/gcc/config.h "$B/"
else printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n' > "$B/config.h"
fi
# The directories make writes into src/paths.h; the fuzz targets read none.
printf '#define MSGSPOOL_SYSCONFDIR "/etc"\n#define MSGSPOOL_LOCALSTATEDIR "/var"\n#define MSGSPOOL_SBINDIR "/usr/sbin"\n' > "$B/paths.h"
CF=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined "-I$B" -Isrc
	$(pkg-config --cflags yaml-0.1 libxml-2.0 gnutls libetpan libidn2 | tr ' ' '\n' | grep -v specs))
LIBS="-letpan -lyaml -lxml2 -lgnutls -lidn2 -lpthread"
# The library's sources as Makefile.am lists them, less the commands'.
SRCS=$(awk '/^libmsgspool_la_SOURCES/ { on = 1 } on { print; if (!/\\$/) on = 0 }' Makefile.am |
	grep -o 'src/[a-z_0-9]*\.c' | grep -v -e 'src/cmd_' -e 'src/cli\.c')
# The library is compiled once for all targets (instrumented for coverage,
# without libFuzzer's main), each target then only fuzz.c and the link.
LCF=("${CF[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link,address,undefined}")
mkdir -p "$B/obj"
OBJS=""
for s in $SRCS; do
	o="$B/obj/$(basename "$s" .c).o"
	clang "${LCF[@]}" -c "$s" -o "$o" 2>>"$B/build.log" || { echo "fuzz: cannot build $s:"; tail -5 "$B/build.log"; exit 1; }
	OBJS="$OBJS $o"
done
passed=0 failed=0
i=0
for t in receiver conf html2text template mime header options; do
	case " ${FUZZ_TARGETS:-$t} " in *" $t "*) ;; *) i=$((i + 1)); continue ;; esac
	if ! clang "${CF[@]}" -DFUZZ_TARGET=$i tests/fuzz/fuzz.c $OBJS -o "$B/fuzz_$t" $LIBS 2>"$B/build.log"; then
		echo "fuzz: cannot build $t:"; tail -5 "$B/build.log"; failed=$((failed + 1)); i=$((i + 1)); continue
	fi
	mkdir -p "$B/corpus_$t"
	cp tests/fuzz/corpus/$t/* "$B/corpus_$t/"
	if ASAN_OPTIONS=detect_leaks=1 "$B/fuzz_$t" -seed="$SEED" -runs="$RUNS" -reload=0 -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$B/crash_$t-" "$B/corpus_$t" > "$B/run_$t.log" 2>&1; then
		# libFuzzer ends with "Done N runs in S second(s)"; short of
		# FUZZ_RUNS means the time cap stopped it, and the line says so.
		done_runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) .*/\1 \2/p' "$B/run_$t.log" | tail -1)
		set -- $done_runs
		capped=""
		[ "$RUNS" -gt 0 ] && [ "${1:-0}" -lt "$RUNS" ] && capped=" (stopped by the ${SECS} s cap)"
		echo "fuzz $t: ${1:-?} runs in ${2:-?} s (seed $SEED)$capped, no crash, corpus $(ls "$B/corpus_$t" | wc -l) inputs"
		passed=$((passed + 1))
	else
		# Enough to reproduce from a CI log alone: the report and the
		# input in base64 (decode into tests/fuzz/corpus/$t/ to replay).
		echo "fuzz $t: FAILED"
		grep -E -A25 'ERROR|runtime error|deadly signal' "$B/run_$t.log" | head -60
		for c in "$B"/crash_$t-*; do # crash-, leak-, timeout-, oom-
			[ -f "$c" ] || continue
			echo "input $(basename "$c") ($(wc -c < "$c") bytes), base64:"
			head -c 8192 "$c" | base64
		done
		failed=$((failed + 1))
	fi
	i=$((i + 1))
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
