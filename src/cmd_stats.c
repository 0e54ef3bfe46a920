/* cmd_stats: msgspool stats: receivers per status, per context type, and
 * per recipient domain and age (qshape's picture), for people, --json and
 * OpenMetrics. It only reads (through query) and never changes the spool;
 * a producer's text is printed escaped (labels quoted as OpenMetrics
 * requires). Rules: msgspool(1) stats. */
#include "config.h"
#include "cli.h"
#include "ratelimit.h"
#include "cmd_owner.h"
#include "json.h"
#include "query.h"
#include "status.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

const char stats_help[] =
	"Usage: msgspool stats [--json | --openmetrics]\n"
	"Receivers and the age of the oldest, per status, per context type, and per\n"
	"recipient domain for those not yet sent (in age columns, like qshape).\n"
	"  --json         one JSON object\n"
	"  --openmetrics  the text format node_exporter's textfile collector reads\n";

/* Age columns in minutes, as Postfix's qshape draws them. */
static const long age_edges[] = {5, 10, 20, 40, 80, 160, 320, 640, 1280};
#define NAGES (sizeof age_edges / sizeof *age_edges + 1)

struct bucket {
	char *name;
	size_t n;
	time_t oldest;
	size_t ages[NAGES];
};

struct table {
	struct bucket *b;
	size_t n, cap;
};

static struct bucket *bucket(struct table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->b[i].name, name))
			return &t->b[i];
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->b = util_xrealloc(t->b, t->cap * sizeof *t->b);
	}
	struct bucket *b = &t->b[t->n++];
	memset(b, 0, sizeof *b);
	b->name = util_xstrdup(name);
	return b;
}

static void count_in(struct bucket *b, time_t created, time_t now)
{
	b->n++;
	if (created && (!b->oldest || created < b->oldest))
		b->oldest = created;
	long mins = created ? (long)(now - created) / 60 : 0;
	size_t k = 0;
	while (k < NAGES - 1 && mins >= age_edges[k])
		k++;
	b->ages[k]++;
}

static int by_count(const void *a, const void *b)
{
	const struct bucket *x = a, *y = b;
	return x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->name, y->name);
}

static void free_table(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->b[i].name);
	free(t->b);
}

static void metric_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s == '\n' ? ' ' : *s);
	}
}

/* Three tables of one scan: by status, by type, by recipient domain of
 * what is not yet sent. */
struct stats {
	struct cli *c;
	struct owner_id owner;	/* for the stuck check, done on the scan's stat of each file */
	time_t now;
	struct table t[3];
	size_t stuck, stuck_in[SPOOL_NSTATUS];	/* in new/ or failed/, unreadable to the spool's owner */
	bool running;				/* msgspoold's status file is trusted: */
	struct status_info si;			/* its counts */
	const char *why;			/* else why not */
	struct ratelimit_use rate[4];
	int nrate;
};

static void daemon_json(const struct stats *st)
{
	printf(",\"daemon\":{\"running\":%s", st->running ? "true" : "false");
	if (!st->running) {
		printf(",\"reason\":");
		json_string(stdout, st->why);
	} else {
		const struct status_info *si = &st->si;
		printf(",\"pid\":%ld,\"start_time\":%lld,\"updated\":%lld,\"connections\":{\"current\":%ld,"
		       "\"min\":%ld,\"max\":%ld},\"outcomes\":{",
		       si->pid, si->start, si->updated, si->conns, si->conns_min, si->conns_max);
		for (int i = 0; i < STATUS_NOUTCOMES; i++)
			printf("%s\"%s\":%lld", i ? "," : "", status_outcome_name((enum status_outcome)i), si->count[i]);
		printf("}");
	}
	printf("},\"rate\":[");
	for (int i = 0; i < st->nrate; i++)
		printf("%s{\"per_seconds\":%ld,\"limit\":%ld,\"count\":%ld}", i ? "," : "", st->rate[i].per,
		       st->rate[i].limit, st->rate[i].count);
	printf("]");
}

/* The daemon's families; with no daemon running, only msgspool_daemon_up 0
 * (a counter without its process would be a stale value, not a reset). */
static void daemon_openmetrics(const struct stats *st)
{
	const struct status_info *si = &st->si;
	printf("# TYPE msgspool_daemon_up gauge\n# HELP msgspool_daemon_up Whether msgspoold runs.\n"
	       "msgspool_daemon_up %d\n", st->running);
	if (st->running) {
		printf("# TYPE msgspool_daemon_start_time_seconds gauge\n# HELP msgspool_daemon_start_time_seconds "
		       "When msgspoold started (its counters count from then).\nmsgspool_daemon_start_time_seconds %lld\n"
		       "# TYPE msgspool_smtp_connections gauge\n# HELP msgspool_smtp_connections SMTP connections "
		       "msgspoold may hold now, and the range of smtp.connections.\n"
		       "msgspool_smtp_connections{bound=\"current\"} %ld\nmsgspool_smtp_connections{bound=\"min\"} %ld\n"
		       "msgspool_smtp_connections{bound=\"max\"} %ld\n"
		       "# TYPE msgspool_outcomes counter\n# HELP msgspool_outcomes Attempts by outcome since msgspoold "
		       "started.\n", si->start, si->conns, si->conns_min, si->conns_max);
		for (int i = 0; i < STATUS_NOUTCOMES; i++)
			printf("msgspool_outcomes_total{outcome=\"%s\"} %lld\n",
			       status_outcome_name((enum status_outcome)i), si->count[i]);
	}
	if (!st->nrate)
		return;
	printf("# TYPE msgspool_rate_limit gauge\n# HELP msgspool_rate_limit smtp.rate: the limit per window.\n");
	for (int i = 0; i < st->nrate; i++)
		printf("msgspool_rate_limit{window_seconds=\"%ld\"} %ld\n", st->rate[i].per, st->rate[i].limit);
	printf("# TYPE msgspool_rate_used gauge\n# HELP msgspool_rate_used Messages taken in the current window.\n");
	for (int i = 0; i < st->nrate; i++)
		printf("msgspool_rate_used{window_seconds=\"%ld\"} %ld\n", st->rate[i].per, st->rate[i].count);
}

static void daemon_human(const struct stats *st)
{
	const struct status_info *si = &st->si;
	if (!st->running) {
		printf("\ndaemon not running (%s)\n", st->why);
		return;
	}
	char t[UTIL_TIME_LEN];
	util_time_format((time_t)si->start, t);
	printf("\ndaemon: pid %ld since %s, connections %ld (of %ld..%ld)\nsince start:", si->pid, t, si->conns,
	       si->conns_min, si->conns_max);
	for (int i = 0; i < STATUS_NOUTCOMES; i++)
		printf("%s %lld %s", i ? "," : "", si->count[i], status_outcome_name((enum status_outcome)i));
	putchar('\n');
}


/* cli_query_each's callback: one row counted in each table. */
static int stats_count(const struct query_row *r, void *vst)
{
	struct stats *st = vst;
	count_in(bucket(&st->t[0], spool_status_name(r->status)), r->created, st->now);
	if (owner_stuck(st->c, &st->owner, r->status, r->id, r->stat)) {
		st->stuck++;
		st->stuck_in[r->status]++;
	}
	if (r->err)
		return 0;
	count_in(bucket(&st->t[1], r->type ? r->type : "-"), r->created, st->now);
	if (r->status != SPOOL_SENT && r->status != SPOOL_CORRUPT) {
		const char *at = r->send_to ? strrchr(r->send_to, '@') : NULL;
		count_in(bucket(&st->t[2], at ? at + 1 : "-"), r->created, st->now);
	}
	return 0;
}

static void stats_json(const struct stats *st)
{
	printf("{\"generated\":%lld", (long long)st->now);
	for (size_t t = 0; t < 3; t++) {
		printf(",\"%s\":{", t == 0 ? "statuses" : t == 1 ? "types" : "domains");
		for (size_t i = 0; i < st->t[t].n; i++) {
			const struct bucket *b = &st->t[t].b[i];
			if (i)
				putchar(',');
			json_string(stdout, b->name);
			printf(":{\"count\":%zu,\"oldest_age_seconds\":", b->n);
			if (b->oldest)
				printf("%lld", (long long)(st->now - b->oldest));
			else
				printf("null");
			printf("}");
		}
		printf("}");
	}
	printf(",\"stuck\":%zu", st->stuck);
	daemon_json(st);
	printf("}\n");
}

/* One metric family per dimension, so that a sum over a family's samples is
 * a count of receivers (a status and a type label in one family would count
 * each receiver twice). */
static void om_family(const char *name, const char *help, const char *label, const struct table *t)
{
	printf("# TYPE %s gauge\n# HELP %s %s\n", name, name, help);
	for (size_t i = 0; i < t->n; i++) {
		printf("%s{%s=\"", name, label);
		metric_label(t->b[i].name);
		printf("\"} %zu\n", t->b[i].n);
	}
}

static void stats_openmetrics(const struct stats *st)
{
	const struct table *status = &st->t[0];
	om_family("msgspool_receivers", "Receivers in the spool, by status.", "status", status);
	om_family("msgspool_receivers_by_type", "Receivers in the spool, by context type.", "type", &st->t[1]);
	om_family("msgspool_unsent_receivers_by_domain", "Receivers not yet sent, by recipient domain.", "domain",
		  &st->t[2]);
	/* An empty status has no oldest receiver: no sample, rather than an age of 0. */
	printf("# TYPE msgspool_oldest_age_seconds gauge\n"
	       "# HELP msgspool_oldest_age_seconds Age of the oldest receiver in a status.\n");
	for (size_t i = 0; i < status->n; i++)
		if (status->b[i].n && status->b[i].oldest)
			printf("msgspool_oldest_age_seconds{status=\"%s\"} %lld\n", status->b[i].name,
			       (long long)(st->now - status->b[i].oldest));
	printf("# TYPE msgspool_stuck_receivers gauge\n# HELP msgspool_stuck_receivers Receivers the spool's "
	       "owner cannot read, where a sender claims them.\n");
	const enum spool_status claimed[] = {SPOOL_NEW, SPOOL_FAILED};
	for (size_t i = 0; i < 2; i++)
		printf("msgspool_stuck_receivers{status=\"%s\"} %zu\n", spool_status_name(claimed[i]),
		       st->stuck_in[claimed[i]]);
	daemon_openmetrics(st);
	printf("# EOF\n");
}

/* One row of the human tables: the count, then the oldest's age or the
 * age columns. */
static void stats_row(const struct bucket *b, bool shape, time_t now)
{
	char name[256];
	printf("%-30s %7zu", util_escape(b->name, name, sizeof name), b->n);
	if (shape) {
		for (size_t k = 0; k < NAGES; k++)
			printf(" %6zu", b->ages[k]);
		putchar('\n');
		return;
	}
	long long age = b->oldest ? (long long)(now - b->oldest) : -1;
	if (age < 0)
		printf(" -\n");
	else if (age < 3600)
		printf(" %lldm\n", age / 60);
	else if (age < 172800)
		printf(" %lldh\n", age / 3600);
	else
		printf(" %lldd\n", age / 86400);
}

static void stats_human(const struct stats *st)
{
	for (size_t t = 0; t < 3; t++) {
		if (t == 2) {
			printf("\nnot yet sent, by recipient domain and age in minutes (qshape):\n%-30s %7s", "DOMAIN", "T");
			for (size_t k = 0; k < NAGES - 1; k++)
				printf(" %6ld", age_edges[k]);
			printf(" %6s\n", "1280+");
		} else {
			printf("%s%-30s %7s %s\n", t ? "\n" : "", t == 0 ? "STATUS" : "TYPE", "COUNT", "OLDEST");
		}
		for (size_t i = 0; i < st->t[t].n; i++)
			stats_row(&st->t[t].b[i], t == 2, st->now);
	}
	if (st->stuck)
		printf("\n%zu stuck: in new/ or failed/, unreadable to the spool's owner (named on standard error)\n", st->stuck);
}

int cmd_stats(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, 0, 'j'},
					     {"openmetrics", no_argument, 0, 'm'}, {0, 0, 0, 0}};
	bool json = false, om = false;
	int o, rc;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'j')
			json = true;
		else if (o == 'm')
			om = true;
		else
			return cli_usage_error("stats", "unknown option");
	}
	if (optind != argc || (json && om))
		return cli_usage_error("stats", optind != argc ? "unexpected argument" : "choose --json or --openmetrics");
	if ((rc = cli_open_spool(c)) != 0)
		return rc;
	struct query_filter f = {.now = time(NULL), .unsorted = true};
	struct stats st = {.c = c, .now = f.now};
	owner_id_of_spool(c, &st.owner);
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		bucket(&st.t[0], spool_status_name((enum spool_status)s));
	if ((rc = cli_query_each(c, &f, stats_count, &st)) != 0)
		return rc;
	for (size_t t = 1; t < 3; t++)
		if (st.t[t].n > 1)
			qsort(st.t[t].b, st.t[t].n, sizeof *st.t[t].b, by_count);
	st.running = status_read(c->sp, &st.si, &st.why) == 0;
	st.nrate = ratelimit_usage(c->sp, &c->conf, st.rate);
	if (json)
		stats_json(&st);
	else if (om)
		stats_openmetrics(&st);
	else
		stats_human(&st);
	if (!json && !om) {
		daemon_human(&st);
		ratelimit_print_usage(stdout, c->sp, &c->conf);
	}
	for (size_t t = 0; t < 3; t++)
		free_table(&st.t[t]);
	return 0;
}
