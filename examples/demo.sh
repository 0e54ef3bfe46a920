#!/bin/bash
# demo: builds msgspool and runs its main job on a throw-away spool with the
# maildir transport: no mail server needed. Run from the source tree.
set -e
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
[ -f Makefile ] || { [ -x configure ] || autoreconf -fi; ./configure -q; }
make -s -j"$(nproc)" >/dev/null
D=$(mktemp -d /tmp/msgspool-demo.XXXXXX)
cat > "$D/msgspool.yaml" <<CONF
spool: $D/spool
transport: maildir
from: "Devilry <noreply@example.org>"
subject_prefix: "[Devilry] "
maildir:
  path: $D/outbox
CONF
export MSGSPOOL_CONFIG="$D/msgspool.yaml"
echo "== a throw-away spool in $D"
./msgspool init
for f in spool-layout/examples/valid/*.yaml; do
	printf '%-45s -> ' "$f"
	./msgspool enqueue - < "$f"
done
printf 'Hello from the demo.\n' | ./msgspool enqueue --to demo@example.com \
	--subject "Frist flyttet for Øving 3 – «viktig»" --text-file - --user demo --type demo
echo "== msgspool compose: one message, each user in their own language"
./msgspool compose examples/compose-deadline.yaml
echo "== msgspool list"
./msgspool list
if ./msgspool send --help >/dev/null 2>&1; then
	echo "== msgspool send"
	./msgspool send
	echo "== msgspool list --status sent"
	./msgspool list --status sent
	echo "== delivered into $D/outbox/new:"
	ls "$D/outbox/new"
fi
echo "== spool left in $D (rm -rf it when done)"
