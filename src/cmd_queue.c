/* cmd_queue: the operator's queue control: hold, release and delete, each
 * by ids or by filter, with --dry-run and --quiet for cron. It moves and
 * removes files only through spool.c, by (status, id), and never touches
 * active/ (a sender has it) or corrupt/ (kept for a human). A receiver
 * that moved meanwhile is left where it went. Its renames and unlinks
 * are flushed once per directory touched, after the last (as the web's
 * bulk actions), and only then is a receiver said done: its line printed
 * and its line in SPOOL/audit (cli_audit), flushed once at the end, none
 * for a dry run. The rules are written in
 * spool-layout/README.md and msgspool(1). */
#include "config.h"
#include "cli.h"
#include "cmd_queue.h"
#include "compose.h"
#include "query.h"
#include "receiver.h"
#include "spool_batch.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* What a command may do: the statuses it takes receivers from. */
struct queue_op {
	const char *cmd;
	unsigned from_mask;	/* statuses it may act on */
	unsigned default_mask;	/* by filter without --status; 0: --status required */
	enum spool_status to;	/* SPOOL_NSTATUS: delete */
	const char *done, *would;	/* "held", "would be held" */
};

struct target {
	char id[SPOOL_ID_MAX + 1];
	enum spool_status st;
};

struct targets {
	struct target *t;
	size_t n;
};

struct queue_args {
	struct query_filter f;
	bool filtered, dry, quiet, yes;
	long older_than;	/* days, -1: none */
};

#define NEVER_MASK SPOOL_UNTOUCHED_MASK
#define BIT(s) (1u << (s))

static const struct queue_op op_hold = {"hold", BIT(SPOOL_NEW) | BIT(SPOOL_FAILED),
					BIT(SPOOL_NEW) | BIT(SPOOL_FAILED), SPOOL_HOLD, "held", "would be held"};
static const struct queue_op op_release = {"release", BIT(SPOOL_HOLD), BIT(SPOOL_HOLD), SPOOL_NEW,
					   "released", "would be released"};
static const struct queue_op op_delete = {"delete", SPOOL_ALL_MASK & ~NEVER_MASK, 0, SPOOL_NSTATUS,
					  "deleted", "would be deleted"};

static int cmp_target(const void *a, const void *b)
{
	return strcmp(((const struct target *)a)->id, ((const struct target *)b)->id);
}

/* Names the statuses of a mask for messages: "not_sent, failed". */
static void mask_names(unsigned mask, char *buf, size_t n)
{
	buf[0] = '\0';
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		if (mask & BIT(s))
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? ", " : "",
				 spool_status_name((enum spool_status)s));
}

/* Resolves every id first: a typo or a receiver in the wrong status
 * changes nothing. A sysexits code, 0 on success. */
static int targets_by_id(struct cli *c, const struct queue_op *op, int argc, char **argv, struct targets *ts)
{
	char names[128];
	ts->t = util_xmalloc((size_t)argc * sizeof *ts->t);
	for (int i = 0; i < argc; i++) {
		struct target *t = &ts->t[ts->n];
		int rc = cli_resolve(c, argv[i], &t->st, t->id, sizeof t->id);
		if (rc)
			return rc;
		if (!(op->from_mask & BIT(t->st))) {
			mask_names(op->from_mask, names, sizeof names);
			cli_err("%s: %s; msgspool %s takes receivers that are %s", t->id, spool_status_name(t->st),
				op->cmd, names);
			return EX_DATAERR;
		}
		bool dup = false;
		for (size_t k = 0; k < ts->n; k++)
			dup |= !strcmp(ts->t[k].id, t->id);
		ts->n += !dup;
	}
	return 0;
}

static int targets_by_filter(struct cli *c, const struct queue_op *op, struct queue_args *a, struct targets *ts)
{
	char names[128];
	mask_names(op->from_mask, names, sizeof names);
	if (a->f.status_mask & ~op->from_mask)
		return cli_usage_error(op->cmd, "--status takes %s", names);
	if (!a->f.status_mask && !op->default_mask)
		return cli_usage_error(op->cmd, "give --status (%s) with filters", names);
	if (!a->f.status_mask)
		a->f.status_mask = op->default_mask;
	if (a->older_than >= 0) {
		time_t until = util_local_start(a->f.now, UTIL_DAY, (int)a->older_than);
		if (!a->f.until || until < a->f.until)
			a->f.until = until;
	}
	struct query_result res;
	int rc = cli_query(c, &a->f, &res);
	if (rc)
		return rc;
	ts->t = util_xmalloc((res.n ? res.n : 1) * sizeof *ts->t);
	for (size_t i = 0; i < res.n; i++) {
		snprintf(ts->t[i].id, sizeof ts->t[i].id, "%s", res.rows[i].id);
		ts->t[i].st = res.rows[i].status;
	}
	ts->n = res.n;
	query_result_free(&res);
	return 0;
}

/* Parses the options every queue command shares. 1 to go on, else a
 * sysexits code to exit with (a usage error has been printed). */
static int queue_options(const struct queue_op *op, int argc, char **argv, struct queue_args *a)
{
	static const struct option opts[] = {CLI_FILTER_OPTIONS, {"older-than", required_argument, 0, 'O'},
					     CLI_DRY_QUIET_OPTIONS, {"yes", no_argument, 0, 'y'}, {0, 0, 0, 0}};
	int o, r;
	memset(a, 0, sizeof *a);
	a->f.now = time(NULL);
	a->older_than = -1;
	while ((o = getopt_long(argc, argv, "nqy", opts, NULL)) != -1) {
		if ((r = cli_filter_option(op->cmd, o, optarg, &a->f)) < 0)
			return EX_USAGE;
		a->filtered |= r == 1;
		if (r || cli_dry_quiet_option(o, &a->dry, &a->quiet))
			continue;
		char *end;
		switch (o) {
		case 'y':
			if (op->to != SPOOL_NSTATUS)
				return cli_usage_error(op->cmd, "asks nothing: --yes is for delete");
			a->yes = true;
			break;
		case 'O':
			a->older_than = strtol(optarg, &end, 10);
			if (*end || end == optarg || a->older_than < 0 || a->older_than > 100000)
				return cli_usage_error(op->cmd, "--older-than takes a number of days");
			a->filtered = true;
			break;
		default: return cli_usage_error(op->cmd, "unknown option");
		}
	}
	if (a->filtered && optind != argc)
		return cli_usage_error(op->cmd, "give ids or filters, not both");
	if (!a->filtered && optind == argc)
		return cli_usage_error(op->cmd, "give receiver ids, or filters such as --status");
	return 1;
}

/* Moves (or removes) one receiver, not flushed (queue_flush); 0, or a
 * sysexits code after saying why. */
static int queue_apply(struct cli *c, const struct queue_op *op, const struct target *t)
{
	int rc = op->to == SPOOL_NSTATUS ? spool_remove(c->sp, t->st, t->id)
					 : spool_move_unflushed(c->sp, t->st, op->to, t->id);
	if (rc == 0)
		return 0;
	char path[4096];
	spool_path(c->sp, t->st, t->id, path, sizeof path);
	if (errno == ENOENT) {
		cli_warn("%s: gone from %s/ meanwhile (sent, or moved by another command); left where it is", t->id,
			 spool_status_dir(t->st));
		return -1;
	}
	if (errno == EEXIST) {
		cli_err("%s: %s/%s.yaml exists already; %s left alone", t->id, spool_status_dir(op->to), t->id, path);
		return EX_DATAERR;
	}
	cli_err("%s: cannot %s: %s", path, op->cmd, strerror(errno));
	return EX_IOERR;
}

/* Flushes the directories of `touched` once each, `to` first; returns
 * those that would not flush, after saying so. */
static unsigned queue_flush(struct cli *c, unsigned touched, enum spool_status to)
{
	unsigned failed = spool_sync_batch(c->sp, touched, to);
	int e = errno;
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		if (failed & BIT(s))
			cli_err("%s/: cannot flush the directory: %s", spool_status_dir((enum spool_status)s), strerror(e));
	return failed;
}

/* Runs a command on its targets: says what it does (or would do) and
 * does it. Prints nothing with --quiet when nothing is to be done. */
static int queue_run(struct cli *c, const struct queue_op *op, struct queue_args *a, struct targets *ts)
{
	int rc = 0;
	size_t done = 0;
	bool del = op->to == SPOOL_NSTATUS;
	if (ts->n > 1)
		qsort(ts->t, ts->n, sizeof *ts->t, cmp_target);
	if (ts->n == 0 && a->quiet)
		return 0;
	if (del && !a->dry && ts->n) {
		char q[128];
		snprintf(q, sizeof q, "Delete %zu message receiver%s?", ts->n, ts->n == 1 ? "" : "s");
		if (!cli_confirm(op->cmd, q, a->yes))
			return isatty(0) ? 1 : EX_USAGE;
	}
	if (del && !a->dry) {
		printf("Deleting %zu message receivers.\n", ts->n);
		fflush(stdout);
	}
	/* Every rename or unlink first, flushed once after the last. */
	bool *did = util_xmalloc((ts->n ? ts->n : 1) * sizeof *did);
	unsigned touched = 0, tobit = del ? 0 : BIT(op->to);
	for (size_t i = 0; i < ts->n; i++) {
		int r = a->dry ? 0 : queue_apply(c, op, &ts->t[i]);
		if (r > 0)
			rc = r;
		did[i] = r == 0;
		touched |= r == 0 && !a->dry ? BIT(ts->t[i].st) | tobit : 0;
	}
	unsigned failed = queue_flush(c, touched, op->to);
	struct spool_audit_batch audit = {.fd = -1};
	if (touched)
		cli_audit_begin(c, &audit);
	for (size_t i = 0; i < ts->n; i++) {
		const struct target *t = &ts->t[i];
		if (!did[i])
			continue;
		if (failed & (BIT(t->st) | tobit)) {
			cli_err("%s: %s not known to be durable (a directory would not flush)", t->id, op->cmd);
			rc = EX_IOERR;
			continue;
		}
		done++;
		if (!a->dry)
			cli_audit(c, &audit, op->cmd, t->id, spool_status_dir(t->st));
		if (del && a->dry)
			printf("%s: %s (dry run)\n", t->id, spool_status_name(t->st));
		else if (!del)
			printf("%s: %s -> %s%s\n", t->id, spool_status_name(t->st), spool_status_name(op->to),
			       a->dry ? " (dry run)" : "");
	}
	free(did);
	cli_audit_end(c, &audit); /* after the directories: its lines name done deeds */
	if (del && a->dry)
		printf("Would delete %zu message receivers.\n", done);
	else if (!del && (a->filtered || a->dry))
		printf("%zu message receiver%s %s.\n", done, done == 1 ? "" : "s", a->dry ? op->would : op->done);
	return rc;
}

static int queue_command(const struct queue_op *op, struct cli *c, int argc, char **argv)
{
	struct queue_args a;
	struct targets ts = {0};
	int rc = queue_options(op, argc, argv, &a);
	if (rc != 1)
		return rc;
	rc = a.dry ? cli_open_spool(c) : cli_check_owner(c);
	if (rc == 0)
		rc = a.filtered ? targets_by_filter(c, op, &a, &ts) : targets_by_id(c, op, argc - optind, argv + optind, &ts);
	if (rc == 0)
		rc = queue_run(c, op, &a, &ts);
	free(ts.t);
	return rc;
}

/* ---- --dry-run for send, resend and resend-failed ---- */

/* One line for one receiver a sending command would take; policy.c says
 * whether it is over the resend limit, scheduled for later or expired, as
 * for the real run: 1 it would be tried, 0 over the limit, -1 neither. */
static int dry_line(struct cli *c, enum spool_status st, const char *id, enum policy_mode mode)
{
	struct receiver r;
	char err[RECEIVER_ERRLEN], when[64];
	if (query_load(c->sp, c->conf.max_receiver_size, st, id, &r, err, sizeof err) < 0) {
		printf("%s: would be quarantined: %s (dry run)\n", id, err);
		return 1;
	}
	struct policy_decision d = policy_decide(&c->conf, &r, mode, time(NULL));
	int take = d.verdict == POLICY_NEVER ? 0 : d.verdict == POLICY_NOW ? 1 : -1;
	if (d.verdict == POLICY_LATER) {
		cli_fmt_local(d.not_before, when, sizeof when);
		printf("%s: would wait: %s is %s (dry run)\n", id,
		       r.send_after && r.send_after == d.not_before ? "send_after" : "the retry delay", when);
	} else if (d.verdict == POLICY_EXPIRED) {
		cli_fmt_local(r.expires_at, when, sizeof when);
		printf("%s: would be moved to error/: expired at %s (dry run)\n", id, when);
	} else if (take && mode == POLICY_SEND) {
		printf("%s: would be sent to %s (dry run)\n", id, r.send_to);
	} else if (take) {
		printf("%s: would be resent (failed %lld times) (dry run)\n", id, r.failed_count);
	}
	receiver_free(&r);
	return take;
}

int queue_dry_send(struct cli *c, enum spool_status st, enum policy_mode mode, size_t *would, size_t *over)
{
	char (*ids)[SPOOL_ID_MAX + 1];
	size_t n;
	int rc = cli_open_spool(c);
	*would = *over = 0;
	if (rc || (rc = cli_scan_ids(c, st, &ids, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		int take = dry_line(c, st, ids[i], mode);
		*would += take == 1;
		*over += take == 0;
	}
	free(ids);
	return 0;
}

int queue_dry_resend(size_t n, char (*ids)[SPOOL_ID_MAX + 1], const enum spool_status *sts, bool filtered)
{
	for (size_t i = 0; i < n; i++)
		printf("%s: %s (%s) (dry run)\n", ids[i],
		       sts[i] == SPOOL_ACTIVE ? "busy, would be left alone" : "would be resent", spool_status_name(sts[i]));
	if (filtered)
		printf("%zu message receiver%s would be resent.\n", n, n == 1 ? "" : "s");
	return 0;
}

int queue_dry_enqueue(struct cli *c, const char *id, const char *key, bool quiet)
{
	char msgid[SPOOL_ID_MAX + 1];
	if (!key) {
		printf("%s (dry run: nothing written)\n", id);
		return 0;
	}
	int rc = cli_open_spool(c);
	if (rc)
		return rc;
	compose_key_id(key, msgid, sizeof msgid);
	if (!spool_message_exists(c->sp, msgid))
		printf("%s (dry run: nothing written)\n", msgid);
	else if (!quiet)
		cli_warn("key '%s' was used before: receiver %s exists; nothing would be written", key, msgid);
	return 0;
}

const char hold_help[] =
	"Usage: msgspool hold [--dry-run] [--quiet] ID...\n"
	"       msgspool hold [--dry-run] [--quiet] FILTER...\n"
	"Puts receivers waiting to be sent (not_sent, failed) aside in hold/\n"
	"(status held): no sender sends them until they are released. Each ID may\n"
	"be a unique prefix; filters select every match (default --status not_sent\n"
	"--status failed). Prints a line per receiver held.\n"
	"  --status S, --sent WHEN, --type T, --search Q, --since D, --until D\n"
	"                   as for list; --older-than DAYS: created before midnight\n"
	"                   DAYS days ago\n"
	"  -n, --dry-run    say what would be held; change nothing\n"
	"  -q, --quiet      print nothing when nothing is held\n";

const char release_help[] =
	"Usage: msgspool release [--dry-run] [--quiet] ID...\n"
	"       msgspool release [--dry-run] [--quiet] FILTER...\n"
	"Moves held receivers back into new/ (not_sent), their counts unchanged:\n"
	"the daemon sends them as if just queued. Filters as for hold (only held\n"
	"receivers match). Prints a line per receiver released.\n"
	"  -n, --dry-run    say what would be released; change nothing\n"
	"  -q, --quiet      print nothing when nothing is released\n";

const char delete_help[] =
	"Usage: msgspool delete [--yes] [--dry-run] [--quiet] ID...\n"
	"       msgspool delete --status S [--type T] [--older-than DAYS] [--search Q]\n"
	"                       [--yes] [--dry-run] [--quiet]\n"
	"Deletes receivers by id (a unique prefix) or by filter, after asking on a\n"
	"terminal, and prints \"Deleting N message receivers.\". Receivers being sent\n"
	"(active/) and files in corrupt/ are never deleted.\n"
	"  --status S         not_sent, failed, error, sent or held (repeatable; required\n"
	"                     with filters); --sent, --since, --until as for list\n"
	"  --older-than DAYS  created before midnight DAYS days ago (0: before today)\n"
	"  -y, --yes          do not ask (required when not on a terminal)\n"
	"  -n, --dry-run      list what would be deleted; delete nothing\n"
	"  -q, --quiet        print nothing when nothing matches\n";

/* The commands: each is its table row above and its help text. */
#define QUEUE_COMMAND(name) \
	int cmd_##name(struct cli *c, int argc, char **argv) { return queue_command(&op_##name, c, argc, argv); }
QUEUE_COMMAND(hold)
QUEUE_COMMAND(release)
QUEUE_COMMAND(delete)
