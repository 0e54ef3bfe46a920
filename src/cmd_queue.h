/* cmd_queue: hold, release and delete, the operator's queue control. */
#ifndef MSGSPOOL_CMD_QUEUE_H
#define MSGSPOOL_CMD_QUEUE_H

#include "cli.h"
#include "policy.h"

CLI_COMMAND(hold);
CLI_COMMAND(release);
CLI_COMMAND(delete);

/* --dry-run for the sending commands: prints "ID: would be sent to ADDR
 * (dry run)" (POLICY_SEND) or "ID: would be resent" for every receiver in
 * st that policy_decide does not put over the resend limit for mode,
 * reading nothing but the files. *would counts those, *over the rest. 0,
 * or a sysexits code. */
int queue_dry_send(struct cli *c, enum spool_status st, enum policy_mode mode, size_t *would, size_t *over);
/* --dry-run for resend: a line per receiver it would resend, and a count
 * when they were chosen by filter. Returns 0. */
int queue_dry_resend(size_t n, char (*ids)[SPOOL_ID_MAX + 1], const enum spool_status *sts, bool filtered);
/* --dry-run for enqueue: prints the id it would write ("ID (dry run:
 * nothing written)"), or says the key was used before (nothing with
 * quiet). Returns 0, or a sysexits code. */
int queue_dry_enqueue(struct cli *c, const char *id, const char *key, bool quiet);

#endif
