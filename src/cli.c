/* cli: helpers every msgspool command shares: messages, usage errors,
 * id prefixes, filter, --dry-run and --quiet options, a status directory's
 * ids in order, the owner check, the audit lines of a command, progress
 * lines and times for people. It
 * must never print a producer's text unescaped and never let a command
 * that changes the spool run as anyone but its owner or root. Rules:
 * msgspool(1), sysexits(3) for the exit codes. */
#include "config.h"
#include "cli.h"
#include "query.h"
#include "util.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

void cli_vmessage(const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];
	util_vformat_escaped(line, sizeof line, fmt, ap);
	fprintf(stderr, "%s%s\n", prefix, line);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vmessage("msgspool: ", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vmessage("msgspool: warning: ", fmt, ap);
	va_end(ap);
}

int cli_open_spool(struct cli *c)
{
	if (c->spool_open)
		return 0;
	if (spool_open(&c->sp, c->conf.spool) < 0) {
		cli_err("%s: cannot open spool: %s (run 'msgspool init' first?)", c->conf.spool,
			strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_NOPERM;
	}
	c->spool_open = true;
	return 0;
}

/* --help anywhere among a command's arguments (before "--"). */
bool cli_want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

bool cli_dry_quiet_option(int o, bool *dry, bool *quiet)
{
	*dry |= o == 'n';
	*quiet |= o == 'q';
	return o == 'n' || o == 'q';
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "msgspool %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'msgspool %s --help'.\n", cmd);
	return EX_USAGE;
}

void cli_fmt_local(time_t t, char *buf, size_t n)
{
	struct tm tm;
	if (!t) {
		snprintf(buf, n, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

#define MAX_CANDIDATES 20

struct candidates {
	const char *prefix;
	size_t plen, n;
	enum spool_status st;
};

static int candidate_cb(const char *id, void *vctx)
{
	struct candidates *k = vctx;
	if (strncmp(id, k->prefix, k->plen))
		return 0;
	if (k->n++ < MAX_CANDIDATES)
		fprintf(stderr, "  %s (%s)\n", id, spool_status_name(k->st));
	return 0;
}

/* The receivers an ambiguous prefix names, on stderr (ids are checked
 * names: nothing to escape). */
static void list_candidates(struct cli *c, const char *prefix)
{
	struct candidates k = {.prefix = prefix, .plen = strlen(prefix)};
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		k.st = (enum spool_status)i;
		spool_scan(c->sp, k.st, candidate_cb, &k);
	}
	if (k.n > MAX_CANDIDATES)
		fprintf(stderr, "  and %zu more\n", k.n - MAX_CANDIDATES);
}

int cli_resolve(struct cli *c, const char *prefix, enum spool_status *st, char *id, size_t idsz)
{
	int r = cli_open_spool(c);
	if (r)
		return r;
	r = spool_find(c->sp, prefix, st, id, idsz);
	if (r == SPOOL_NOT_FOUND) {
		cli_err("%s: no receiver with this id or id prefix", prefix);
		return EX_NOINPUT;
	}
	if (r == SPOOL_AMBIGUOUS) {
		cli_err("%s: id prefix matches more than one receiver; give more of the id:", prefix);
		list_candidates(c, prefix);
		return EX_USAGE;
	}
	if (r < 0) {
		cli_err("%s: cannot scan spool: %s", c->conf.spool, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

struct idlist {
	char (*ids)[SPOOL_ID_MAX + 1];
	size_t n, cap;
};

static int collect_id(const char *id, void *ctx)
{
	struct idlist *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->ids = util_xrealloc(l->ids, l->cap * sizeof *l->ids);
	}
	snprintf(l->ids[l->n++], SPOOL_ID_MAX + 1, "%s", id);
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int cli_scan_ids(struct cli *c, enum spool_status st, char (**ids)[SPOOL_ID_MAX + 1], size_t *n)
{
	struct idlist l = {0};
	*ids = NULL;
	*n = 0;
	if (spool_scan(c->sp, st, collect_id, &l) < 0) {
		cli_err("%s: cannot scan %s/: %s", c->conf.spool, spool_status_dir(st), strerror(errno));
		free(l.ids);
		return EX_IOERR;
	}
	if (l.n > 1)
		qsort(l.ids, l.n, sizeof *l.ids, cmp_id);
	*ids = l.ids;
	*n = l.n;
	return 0;
}

int cli_parse_date(const char *s, time_t *out)
{
	if (util_time_parse(s, out) == 0)
		return 0;
	struct tm tm = {0};
	char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	*out = mktime(&tm);
	return 0;
}

/* Parses the filter options shared by list, resend and cleanup. Returns 1
 * when opt was one of them, 0 when not, -1 on a bad value. */
int cli_filter_option(const char *cmd, int o, const char *arg, struct query_filter *f)
{
	enum spool_status st;
	switch (o) {
	case 'S':
		if (spool_status_parse(arg, &st) < 0)
			return cli_usage_error(cmd, "unknown status '%s'", arg), -1;
		f->status_mask |= 1u << st;
		return 1;
	case 'W':
		if (query_parse_sent(arg, &f->sent) < 0)
			return cli_usage_error(cmd, "--sent takes today, 7d, month, year, none or any"), -1;
		return 1;
	case 'Y': f->type = arg; return 1;
	case 'Q': f->search = arg; return 1;
	case 'A':
	case 'B':
		if (cli_parse_date(arg, o == 'A' ? &f->since : &f->until) < 0)
			return cli_usage_error(cmd, "'%s' is not a date (YYYY-MM-DD or RFC 3339)", arg), -1;
		return 1;
	}
	return 0;
}

int cli_terminal_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	if (cols && atoi(cols) > 20)
		return atoi(cols);
	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 0; /* not a terminal: never cut */
}


static bool progress_shown;

void cli_progress(size_t n, void *what)
{
	if (!isatty(2))
		return;
	fprintf(stderr, "\r\033[K%s %zu files", (const char *)what, n);
	progress_shown = true;
}

void cli_progress_done(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = false;
}

bool cli_confirm(const char *cmd, const char *question, bool yes)
{
	if (yes)
		return true;
	if (!isatty(0)) {
		fprintf(stderr, "msgspool %s: %s Not on a terminal: add --yes to go ahead.\n", cmd, question);
		return false;
	}
	fprintf(stderr, "%s [y/N] ", question);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

int cli_check_owner(struct cli *c)
{
	struct stat st;
	int rc = cli_open_spool(c);
	if (rc)
		return rc;
	if (spool_stat_root(c->sp, &st) < 0)
		return EX_IOERR;
	if (geteuid() != 0 && geteuid() != st.st_uid) {
		cli_err("%s: owned by uid %ld; run this as the spool's owner", c->conf.spool, (long)st.st_uid);
		return EX_NOPERM;
	}
	return 0;
}

static int scan_done(struct cli *c, int rc)
{
	cli_progress_done();
	if (rc < 0) {
		cli_err("%s: cannot scan spool: %s", c->conf.spool, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

int cli_query(struct cli *c, struct query_filter *f, struct query_result *res)
{
	f->progress = cli_progress;
	f->progress_ctx = (void *)"scanning";
	return scan_done(c, query_run(c->sp, c->conf.max_receiver_size, f, res));
}

int cli_query_each(struct cli *c, struct query_filter *f, int (*cb)(const struct query_row *, void *), void *ctx)
{
	f->progress = cli_progress;
	f->progress_ctx = (void *)"scanning";
	return scan_done(c, query_each(c->sp, c->conf.max_receiver_size, f, cb, ctx, NULL));
}

/* On a terminal, stdout goes to $PAGER (less -FRX without one) until
 * cli_pager_end; piped, nothing changes. */
void cli_pager_begin(struct cli_pager *pg)
{
	pg->pipe = NULL;
	pg->saved = -1;
	if (!isatty(1))
		return;
	const char *p = getenv("PAGER");
	pg->pipe = popen(p && *p ? p : "less -FRX", "w");
	if (!pg->pipe)
		return;
	fflush(stdout);
	pg->saved = dup(1);
	dup2(fileno(pg->pipe), 1);
}

void cli_pager_end(struct cli_pager *pg)
{
	if (!pg->pipe)
		return;
	fflush(stdout);
	dup2(pg->saved, 1);
	close(pg->saved);
	pclose(pg->pipe);
	pg->pipe = NULL;
}

const char *cli_user(struct cli *c)
{
	if (c->user[0])
		return c->user;
	uid_t uid = getuid();
	const char *su = getenv("SUDO_USER"), *suid = getenv("SUDO_UID");
	char *end, buf[4096];
	/* sudo sets both; a uid other than the one sudo came from is a sudo run. */
	unsigned long from = suid && *suid ? strtoul(suid, &end, 10) : 0;
	if (su && *su && suid && *suid && !*end && (uid_t)from != uid) {
		snprintf(c->user, sizeof c->user, "%s", su);
		return c->user;
	}
	struct passwd pw, *res = NULL;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name[0])
		snprintf(c->user, sizeof c->user, "%s", res->pw_name);
	else
		snprintf(c->user, sizeof c->user, "%lu", (unsigned long)uid);
	return c->user;
}

void cli_audit_begin(struct cli *c, struct spool_audit_batch *b)
{
	cli_user(c);
	if (spool_audit_open(c->sp, b) < 0)
		cli_warn("%s/audit: cannot write: %s; what this command does is not recorded there", c->conf.spool,
			 strerror(errno));
}

void cli_audit(struct cli *c, struct spool_audit_batch *b, const char *action, const char *id, const char *dir)
{
	if (b->fd >= 0)
		spool_audit_add(b, action, id, dir, cli_user(c), "cli", time(NULL));
}

void cli_audit_end(struct cli *c, struct spool_audit_batch *b)
{
	if (b->fd >= 0 && spool_audit_close(b) < 0)
		cli_warn("%s/audit: lines not recorded: %s; the actions are done", c->conf.spool, strerror(errno));
}
