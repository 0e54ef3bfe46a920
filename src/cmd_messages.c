/* cmd_messages: msgspool delete-messages-without-receivers: deletes the
 * message records (messages/) no receiver points to, older than an hour
 * (compose may still be writing a younger one's receivers). It reads the
 * spool only through spool and query calls and never touches a receiver.
 * Rules: msgspool(1), spool-layout/README.md (messages/). */
#include "config.h"
#include "cli.h"
#include "query.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ---- delete-messages-without-receivers ---- */

const char delete_messages_help[] =
	"Usage: msgspool delete-messages-without-receivers [--dry-run] [--quiet]\n"
	"Deletes message records (messages/) that no receiver points to, and prints\n"
	"\"Deleting N messages with no message receivers.\". Records younger than an\n"
	"hour are kept: compose may still be writing their receivers.\n"
	"  -n, --dry-run  count only\n"
	"  -q, --quiet    print nothing when nothing is to be deleted\n";

struct msgref {
	char **ids;
	size_t n, cap;
};

static int add_ref(struct msgref *m, const char *id)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->ids = util_xrealloc(m->ids, m->cap * sizeof *m->ids);
	}
	m->ids[m->n++] = util_xstrdup(id);
	return 0;
}

static int collect_msg(const char *id, void *ctx)
{
	return add_ref(ctx, id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct refscan {
	struct cli *c;
	enum spool_status st;
	struct msgref refs;
};

static int collect_ref(const char *id, void *vctx)
{
	struct refscan *rs = vctx;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (query_load(rs->c->sp, rs->c->conf.max_receiver_size, rs->st, id, &r, err, sizeof err) == 0) {
		if (r.message)
			add_ref(&rs->refs, r.message);
		receiver_free(&r);
	}
	return 0;
}

static void msgref_free(struct msgref *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->ids[i]);
	free(m->ids);
}

/* Records no receiver in any status points to, older than an hour (a
 * younger one may be a compose still writing its receivers). */
static int find_orphans(struct cli *c, struct msgref *doomed)
{
	struct msgref msgs = {0};
	struct refscan rs = {.c = c};
	if (spool_message_scan(c->sp, collect_msg, &msgs) < 0) {
		cli_err("%s/messages: cannot scan: %s", c->conf.spool, strerror(errno));
		msgref_free(&msgs);
		return EX_IOERR;
	}
	for (int s = 0; s < SPOOL_NSTATUS; s++) {
		rs.st = (enum spool_status)s;
		spool_scan(c->sp, rs.st, collect_ref, &rs);
	}
	if (rs.refs.n > 1)
		qsort(rs.refs.ids, rs.refs.n, sizeof *rs.refs.ids, cmp_str);
	time_t now = time(NULL);
	for (size_t i = 0; i < msgs.n; i++) {
		const char *key = msgs.ids[i];
		if (rs.refs.n && bsearch(&key, rs.refs.ids, rs.refs.n, sizeof *rs.refs.ids, cmp_str))
			continue;
		struct stat st;
		if (spool_message_stat(c->sp, key, &st) == 0 && now - st.st_mtime < 3600)
			continue;
		add_ref(doomed, key);
	}
	msgref_free(&msgs);
	msgref_free(&rs.refs);
	return 0;
}

int cmd_delete_messages(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};
	bool dry = false, quiet = false;
	int o, rc;
	while ((o = getopt_long(argc, argv, "nq", opts, NULL)) != -1)
		if (!cli_dry_quiet_option(o, &dry, &quiet))
			return cli_usage_error("delete-messages-without-receivers", "unknown option");
	if (optind != argc)
		return cli_usage_error("delete-messages-without-receivers", "unexpected argument: %s", argv[optind]);
	if ((rc = dry ? cli_open_spool(c) : cli_check_owner(c)) != 0)
		return rc;
	struct msgref doomed = {0};
	if ((rc = find_orphans(c, &doomed)) != 0)
		return rc;
	if (doomed.n || !quiet)
		printf(dry ? "Would delete %zu messages with no message receivers.\n"
			   : "Deleting %zu messages with no message receivers.\n", doomed.n);
	for (size_t i = 0; !dry && i < doomed.n; i++) {
		if (spool_message_remove(c->sp, doomed.ids[i]) < 0 && errno != ENOENT) {
			cli_err("messages/%s.yaml: cannot delete: %s", doomed.ids[i], strerror(errno));
			rc = EX_IOERR;
		}
	}
	if (!dry)
		spool_sync_messages(c->sp);
	msgref_free(&doomed);
	return rc;
}
