#!/bin/bash
# fuzz-replay: every fuzz target over its seed corpus (and whatever the
# fuzzer found and saved there), in this build: under ASan/UBSan in the
# sanitizer build, plainly in the other. A crash or report fails the test.
. "${top_srcdir:-.}/tests/lib.sh"
for t in receiver conf html2text template mime header options; do
	out=$("$BLD/tests/fuzz/replay_$t" "$SRC"/tests/fuzz/corpus/$t/* 2>&1)
	rc=$?
	check "fuzz target $t over its corpus ($(ls "$SRC/tests/fuzz/corpus/$t" | wc -l) inputs)" "$rc" 0
	[ $rc -eq 0 ] || echo "$out" | tail -20
done
finish
