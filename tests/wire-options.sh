#!/bin/bash
# wire-options: what enqueue's options carry is checked before anything is
# written: a value that is not UTF-8 (Latin-1 from a terminal or a script)
# is refused with exit 65 and the key named, for every option that becomes
# a receiver key, and nothing reaches the spool.
. "${top_srcdir:-.}/tests/lib.sh"

check_rc "init" 0 ms init
printf 'Hello\n' > "$T/body.txt"
latin1=$(printf 'Bl\xe5b\xe6r')
before=$(ls -A "$T/spool/new" | wc -l)
for opt in subject:subject user:user language:language type:context_type from:from reply-to:reply_to to:send_to; do
	o=${opt%%:*} key=${opt#*:}
	args=(--to a@example.com --subject s --text-file "$T/body.txt")
	case $o in
	to) args[1]="$latin1@example.com" ;;
	subject) args[3]="$latin1" ;;
	from | reply-to) args+=("--$o" "$latin1 <x@example.org>") ;;
	*) args+=("--$o" "$latin1") ;;
	esac
	check_rc "enqueue --$o Latin-1" 65 ms enqueue "${args[@]}"
	check_contains "--$o: the key and the reason are named" "$(cat "$T/err")" "$key: not UTF-8 text"
done
check "nothing written" "$(ls -A "$T/spool/new" | wc -l)" "$before"
check "tmp/ empty" "$(ls -A "$T/spool/tmp" | wc -l)" 0
finish
