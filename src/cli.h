/* cli: what every msgspool command shares: the loaded configuration, the
 * open spool, and messages to stderr in one format. */
#ifndef MSGSPOOL_CLI_H
#define MSGSPOOL_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <time.h>
#include "conf.h"
#include "spool.h"

struct cli {
	const char *prog;
	const char *conf_path;	/* -c, MSGSPOOL_CONFIG, or NULL */
	const char *spool_override; /* --spool */
	struct conf conf;
	struct spool *sp;
	bool spool_open;
	/* Files named on the command line that root opened before it became
	 * the spool's owner (owner_preopen), by the name given. */
	struct cli_input {
		const char *path;
		int fd;
	} inputs[4];
	int ninputs;
	/* The person running the command, for SPOOL/audit (cli_user). */
	char user[64];
};

/* One line on stderr, prefix then the message with control characters
 * escaped (it may quote what a producer wrote). */
void cli_vmessage(const char *prefix, const char *fmt, va_list ap);
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens the configured spool; returns a sysexits code, 0 on success. */
int cli_open_spool(struct cli *c);

bool cli_want_help(int argc, char **argv);
/* Prints "msgspool CMD: message" and a hint; returns EX_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Local time for people, "-" for 0. */
void cli_fmt_local(time_t t, char *buf, size_t n);
/* Resolves an id prefix, printing the error; returns a sysexits code. */
int cli_resolve(struct cli *c, const char *prefix, enum spool_status *st, char *id, size_t idsz);
/* The ids of a status directory in id order (creation order for our ids):
 * *ids (the caller frees it) and *n. 0, or EX_IOERR after saying why. */
int cli_scan_ids(struct cli *c, enum spool_status st, char (**ids)[SPOOL_ID_MAX + 1], size_t *n);
int cli_parse_date(const char *s, time_t *out);
/* Filter options shared by list, resend, delete-receivers and stats: 1 when
 * `o` was one, 0 when not, -1 after printing a usage error. */
struct query_filter;
int cli_filter_option(const char *cmd, int o, const char *arg, struct query_filter *f);
#define CLI_FILTER_OPTIONS \
	{"status", required_argument, 0, 'S'}, {"sent", required_argument, 0, 'W'}, \
	{"type", required_argument, 0, 'Y'}, {"search", required_argument, 0, 'Q'}, \
	{"since", required_argument, 0, 'A'}, {"until", required_argument, 0, 'B'}
/* -n, --dry-run (change nothing, say what would change) and -q, --quiet
 * (print nothing when there is nothing to do: for cron), which the
 * commands that change the spool take. */
#define CLI_DRY_QUIET_OPTIONS {"dry-run", no_argument, 0, 'n'}, {"quiet", no_argument, 0, 'q'}
/* Sets *dry for -n, *quiet for -q; false when `o` is neither. */
bool cli_dry_quiet_option(int o, bool *dry, bool *quiet);
/* Columns of the terminal on stdout, 0 when not a terminal. */
int cli_terminal_width(void);
/* stdout through $PAGER while on a terminal (list, show). */
struct cli_pager {
	FILE *pipe;
	int saved;
};
void cli_pager_begin(struct cli_pager *pg);
void cli_pager_end(struct cli_pager *pg);
/* A progress line on stderr when it is a terminal; quiet under cron. */
void cli_progress(size_t n, void *what);
void cli_progress_done(void);
/* Asks on a terminal; without one, refuses unless --yes was given. */
bool cli_confirm(const char *cmd, const char *question, bool yes);
/* Runs a query with a progress line; a sysexits code, 0 on success. */
struct query_result;
int cli_query(struct cli *c, struct query_filter *f, struct query_result *res);
/* The same scan, each row handed to cb and none kept (stats). */
struct query_row;
int cli_query_each(struct cli *c, struct query_filter *f, int (*cb)(const struct query_row *, void *), void *ctx);
/* Commands that move or delete files run as the spool's owner (or root). */
int cli_check_owner(struct cli *c);
/* The person running the command (SUDO_USER when run through sudo, else
 * the real uid's login name, else its number), kept in c->user. root's
 * commands call it before they become the spool's owner. */
const char *cli_user(struct cli *c);
/* SPOOL/audit lines of a command (VIA cli): begin, a line per receiver
 * acted on (dir NULL: a summary line), end flushes them once. A failure is
 * warned once; what was done stays done. */
void cli_audit_begin(struct cli *c, struct spool_audit_batch *b);
void cli_audit(struct cli *c, struct spool_audit_batch *b, const char *action, const char *id, const char *dir);
void cli_audit_end(struct cli *c, struct spool_audit_batch *b);

/* The commands, one function each, with their --help texts. */
#define CLI_COMMAND(name) \
	int cmd_##name(struct cli *c, int argc, char **argv); \
	extern const char name##_help[]
CLI_COMMAND(list);
CLI_COMMAND(show);
CLI_COMMAND(send);
CLI_COMMAND(resend);
CLI_COMMAND(resend_failed);
CLI_COMMAND(delete_receivers);
CLI_COMMAND(delete_messages);
CLI_COMMAND(stats);

#endif
