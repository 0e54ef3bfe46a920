/* cmd_send: the commands that send: send, resend, resend-failed. It owns
 * their options, output and exit codes; it must never decide itself which
 * receiver may be tried (policy.c) nor touch a file but through deliver and
 * the spool. resend (a person's action) writes a SPOOL/audit line per
 * receiver before its send, flushed once at the end. send and
 * resend-failed hold each reply to a message's end for the next
 * envelope, as msgspoold does (one round trip a message). The commands are
 * described in msgspool(1). */
#include "config.h"
#include "cli.h"
#include "cmd_queue.h"
#include "compose.h"
#include "deliver.h"
#include "json.h"
#include "policy.h"
#include "query.h"
#include "ratelimit.h"
#include "receiver.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ---- sending: send, resend, resend-failed ---- */

struct sender {
	struct cli *c;
	struct deliver d;
	bool verbose;
	bool progress;		/* a progress line on stderr (a terminal) */
	struct ratelimit *rl;	/* smtp.rate, counted with msgspoold's; NULL without limits */
	size_t done, total;
	size_t rate_left;	/* not tried: an hourly or daily limit was used up */
	double rate_until;	/* till when */
	double slot_at;		/* when the last slot was taken (ratelimit_give_back) */
	bool rate_said;		/* the terminal says the pass waits for smtp.rate */
	size_t counts[DELIVER_IOERR + 1];
};

static void cli_log(void *ctx, int prio, const char *fmt, ...)
{
	struct sender *s = ctx;
	if (prio >= LOG_INFO && !s->verbose)
		return;
	va_list ap;
	if (s->progress)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	cli_vmessage("msgspool: ", fmt, ap);
	va_end(ap);
}

static int sender_start(struct sender *s, struct cli *c, bool verbose)
{
	char err[512] = "";
	memset(s, 0, sizeof *s);
	s->c = c;
	s->verbose = verbose;
	s->progress = isatty(2);
	int rc = cli_open_spool(c);
	if (rc)
		return rc;
	s->d.sp = c->sp;
	s->d.conf = &c->conf;
	s->d.log = cli_log;
	s->d.log_ctx = s;
	s->d.t = transport_open(&c->conf, err, sizeof err);
	if (!s->d.t) {
		cli_err("%s", err);
		return EX_CONFIG;
	}
	if (c->conf.smtp.nrates)
		s->rl = ratelimit_new(c->sp, &c->conf);
	return 0;
}

static void sender_stop(struct sender *s)
{
	if (s->progress && s->total)
		fputs("\r\033[K", stderr);
	if (s->d.t)
		transport_free(s->d.t);
	ratelimit_free(s->rl);
}

/* Says which hourly or daily limit of smtp.rate is used up, and till when. */
static void rate_used_up(const struct sender *s, double until)
{
	struct ratelimit_use u[4];
	int n = ratelimit_usage(s->c->sp, &s->c->conf, u);
	char when[64];
	cli_fmt_local((time_t)until, when, sizeof when);
	for (int i = 0; i < n; i++)
		if (u[i].per >= 3600 && u[i].count >= u[i].limit)
			cli_err("smtp.rate %ld/%s is used up until %s", u[i].limit, u[i].per == 3600 ? "hour" : "day", when);
}

/* The terminal's line while a paced limit makes the pass wait. */
static void rate_waiting(void *ctx)
{
	struct sender *s = ctx;
	if (s->progress)
		fprintf(stderr, "\r\033[Ksending %zu/%zu (waiting for smtp.rate)", s->done + 1, s->total);
	s->rate_said = true;
}

/* Waits for a slot of smtp.rate before an attempt, counted with
 * msgspoold's (ratelimit_claim_take counts it): waits while a paced limit
 * (per second, per minute) has no room, saying so on a terminal; 1 when an
 * hourly or daily limit is used up (a pass from cron does not wait for the
 * next hour: the rest stays for the next run, uncounted). */
static int sender_room(void *ctx)
{
	struct sender *s = ctx;
	double until;
	s->rate_said = false;
	if (ratelimit_wait_room(s->rl, 61, &until, rate_waiting, s)) {
		s->rate_until = until;
		return 1;
	}
	if (s->rate_said && s->progress)
		fputs("\r\033[K", stderr); /* resend's line for the receiver goes here */
	return 0;
}

static void progress(struct sender *s)
{
	if (s->progress && s->total > 1)
		fprintf(stderr, "\r\033[Ksending %zu/%zu", s->done, s->total);
}

/* Whether deliver_one would send it now, so that it needs a slot of
 * smtp.rate: not when it is gone (msgspoold took it meanwhile), unreadable
 * (quarantined), scheduled for later, over the limit or expired. */
static bool will_send(struct sender *s, enum spool_status st, const char *id, enum policy_mode mode)
{
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (query_load(s->c->sp, s->c->conf.max_receiver_size, st, id, &r, err, sizeof err) < 0)
		return false;
	bool now = policy_decide(&s->c->conf, &r, mode, time(NULL)).verdict == POLICY_NOW;
	receiver_free(&r);
	return now;
}

/* Before an attempt on from/ID: without smtp.rate nothing (0); else the
 * receiver claimed, then its slot (0, *slot set), RATELIMIT_GONE when
 * msgspoold claimed it first (no slot spent), 1 when an hourly or daily
 * limit is used up. */
static int sender_slot(struct sender *s, enum spool_status from, const char *id, bool *slot)
{
	*slot = false;
	if (!s->rl)
		return 0;
	int rc = ratelimit_claim_take(s->rl, s->c->sp, from, id, sender_room, s, &s->slot_at);
	*slot = rc == 0;
	return rc;
}

/* After an attempt that took a slot: one for a receiver that never
 * reached the server (busy, not due, quarantined, put back unread) is
 * given back. */
static void sender_unslot(struct sender *s, bool slot, enum deliver_result r, const struct deliver_report *rep)
{
	if (slot && deliver_unsent(r, rep))
		ratelimit_give_back(s->rl, s->slot_at);
}

/* Counts one settled attempt. */
static void count(struct sender *s, enum deliver_result r, int *rc)
{
	s->counts[r]++;
	s->done++;
	progress(s);
	if (r == DELIVER_IOERR)
		*rc = EX_IOERR;
}

/* Attempts every id of a status in id order (creation order for our ids).
 * Stops at the first session failure: the server is down, and the rest stay
 * where they are instead of each waiting for a timeout. */
static int send_status(struct sender *s, enum spool_status st, enum policy_mode mode, bool *server_down)
{
	char (*ids)[SPOOL_ID_MAX + 1];
	size_t n;
	int rc = cli_scan_ids(s->c, st, &ids, &n);
	if (rc)
		return rc;
	s->total += n;
	struct deliver_report rep;
	for (size_t i = 0; i < n && !*server_down; i++) {
		bool slot = false;
		int sr = s->rl && will_send(s, st, ids[i], mode) ? sender_slot(s, st, ids[i], &slot) : 0;
		if (sr == RATELIMIT_GONE) { /* msgspoold has it */
			count(s, DELIVER_BUSY, &rc);
			continue;
		}
		if (sr) {
			s->rate_left = n - i;
			break;
		}
		/* As msgspoold: with another receiver to send (and no smtp.rate,
		 * whose slot is taken per receiver), the reply to a message's end
		 * may travel with the next one's envelope: one round trip each. */
		s->d.hold = i + 1 < n && !s->rl;
		enum deliver_result r = deliver_one(&s->d, st, ids[i], mode, &rep);
		sender_unslot(s, slot, r, &rep);
		if (rep.settled)
			count(s, rep.settled_result, &rc);
		if (r != DELIVER_PENDING)
			count(s, r, &rc);
		if (r == DELIVER_DEFERRED && rep.session_failed)
			*server_down = true;
	}
	/* The last one's reply, when it was held. */
	deliver_settle(&s->d, &rep);
	if (rep.settled)
		count(s, rep.settled_result, &rc);
	free(ids);
	return rc;
}

const char send_help[] =
	"Usage: msgspool send [--verbose] [--dry-run] [--quiet]\n"
	"One pass: finishes what a crash left in active/, sends every receiver in\n"
	"new/, prints a summary and exits (for cron, or a host without msgspoold).\n"
	"When the mail server cannot be used (refused, TLS, AUTH), the receiver in\n"
	"hand is put back unchanged, the pass stops and the exit code is 75. It\n"
	"is 75 too when a receiver was not sent (failed, error, quarantined).\n"
	"smtp.rate is kept together with msgspoold: the pass waits for a limit per\n"
	"second or minute; when one per hour or day is used up, the rest is left\n"
	"for the next run (exit 75).\n"
	"  -v, --verbose   a line per attempt on stderr\n"
	"  -n, --dry-run   say what would be sent, to whom; change nothing\n"
	"  -q, --quiet     print nothing when there was nothing to send\n";

/* The options send and resend-failed share: -v, -n, -q and no argument. */
static int send_options(const char *cmd, int argc, char **argv, bool *verbose, bool *dry, bool *quiet)
{
	static const struct option opts[] = {{"verbose", no_argument, 0, 'v'}, CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};
	int o;
	*verbose = *dry = *quiet = false;
	while ((o = getopt_long(argc, argv, "vnq", opts, NULL)) != -1) {
		if (o == 'v')
			*verbose = true;
		else if (!cli_dry_quiet_option(o, dry, quiet))
			return cli_usage_error(cmd, "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument: %s", argv[optind]);
	return 0;
}

/* What send and resend-failed share: their options, then a dry run
 * (counted in would and over; each command words its own summary) or one
 * pass over a status directory, after finishing what a crash left when
 * it is new/. */
struct pass {
	const char *cmd;
	enum spool_status st;
	enum policy_mode mode;
	bool dry, quiet;
	bool down;		/* the mail server could not be used: the pass stopped */
	size_t would, over;	/* a dry run's */
	struct sender s;	/* a pass's counts; zero when it never started */
};

/* 0, or a sysexits code (a usage error leaves p->s zero: nothing to sum up). */
static int send_pass(struct cli *c, int argc, char **argv, struct pass *p)
{
	bool verbose;
	memset(&p->s, 0, sizeof p->s);
	int rc = send_options(p->cmd, argc, argv, &verbose, &p->dry, &p->quiet);
	if (rc || p->dry)
		return rc ? rc : queue_dry_send(c, p->st, p->mode, &p->would, &p->over);
	rc = sender_start(&p->s, c, verbose);
	if (rc == 0) {
		if (p->st == SPOOL_NEW && (deliver_recover(&p->s.d) < 0 || compose_recover(c->sp, cli_log, &p->s) < 0))
			rc = EX_IOERR;
		int r = send_status(&p->s, p->st, p->mode, &p->down);
		rc = rc ? rc : r;
	}
	sender_stop(&p->s);
	return rc;
}

/* Whether a pass changed anything: sent, or moved a receiver elsewhere. */
static bool pass_did(const struct sender *s)
{
	const size_t *n = s->counts;
	return n[DELIVER_SENT] + n[DELIVER_FAILED] + n[DELIVER_ERROR] + n[DELIVER_QUARANTINED] > 0;
}

/* The exit code both commands end with: 75 when a receiver was not sent
 * (cron mails the output of a run that failed someone), or when the mail
 * server could not be reached. */
static int pass_exit(const struct pass *p, int rc)
{
	const size_t *n = p->s.counts;
	if (rc == 0 && n[DELIVER_FAILED] + n[DELIVER_ERROR] + n[DELIVER_QUARANTINED])
		rc = EX_TEMPFAIL;
	/* Said by the pass that used the limit up; cron's --quiet passes after
	 * it, which do nothing, say nothing. */
	if (rc == 0 && p->s.rate_left && (!p->quiet || pass_did(&p->s))) {
		rate_used_up(&p->s, p->s.rate_until);
		cli_err("%zu receivers are left in %s/ for the next run (smtp.rate)", p->s.rate_left,
			spool_status_dir(p->st));
	}
	if (rc == 0 && p->s.rate_left)
		rc = EX_TEMPFAIL;
	if (rc == 0 && p->down) {
		cli_err("the mail server could not be reached; the rest of %s/ is left for the next run",
			spool_status_dir(p->st));
		rc = EX_TEMPFAIL;
	}
	return rc;
}

int cmd_send(struct cli *c, int argc, char **argv)
{
	struct pass p = {.cmd = "send", .st = SPOOL_NEW, .mode = POLICY_SEND};
	int rc = send_pass(c, argc, argv, &p);
	if (p.dry) {
		if (rc == 0 && (p.would || !p.quiet))
			printf("Would send %zu message receivers.\n", p.would);
		return rc;
	}
	const size_t *n = p.s.counts;
	if ((p.s.d.t && !p.quiet) || pass_did(&p.s))
		printf("%zu sent, %zu failed, %zu error, %zu quarantined\n", n[DELIVER_SENT], n[DELIVER_FAILED],
		       n[DELIVER_ERROR], n[DELIVER_QUARANTINED]);
	if (n[DELIVER_DEFERRED] && !p.down && rc == 0)
		rc = EX_TEMPFAIL; /* young files left for another look */
	return pass_exit(&p, rc);
}

const char resend_help[] =
	"Usage: msgspool resend [--verbose] [--dry-run] [--quiet] ID...\n"
	"       msgspool resend [--yes] [--verbose] [--dry-run] [--quiet] FILTER...\n"
	"Sends receivers again, whatever their status (the admin's resend action).\n"
	"Each ID may be a unique prefix. With filters instead of ids, every match\n"
	"is resent after showing how many and asking (on a terminal; --yes skips\n"
	"the question, and is required when not on a terminal).\n"
	"  --status S, --sent WHEN, --type T, --search Q, --since D, --until D\n"
	"               as for list; receivers in active/ and corrupt/ never match,\n"
	"               held ones only with --status held\n"
	"  -y, --yes    do not ask\n"
	"  -v, --verbose  a line per attempt on stderr\n"
	"  -n, --dry-run  say what would be resent; ask nothing, change nothing\n"
	"  -q, --quiet  print nothing when no receiver matches\n"
	"Exits 75 when a receiver was not sent.\n";

/* Sends each (status, id) pair; prints a line per receiver. */
static int resend_all(struct cli *c, size_t n, char (*ids)[SPOOL_ID_MAX + 1], enum spool_status *sts,
		      bool verbose)
{
	struct sender s;
	int rc = sender_start(&s, c, verbose);
	bool any_failed = false;
	struct spool_audit_batch audit = {.fd = -1};
	if (rc == 0)
		cli_audit_begin(c, &audit);
	s.total = n;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool slot = false;
		int sr = sts[i] != SPOOL_ACTIVE ? sender_slot(&s, sts[i], ids[i], &slot) : 0;
		if (sr > 0) {
			rate_used_up(&s, s.rate_until);
			for (; i < n; i++)
				printf("%s: not sent (smtp.rate: try again later)\n", ids[i]);
			any_failed = true;
			break;
		}
		struct deliver_report rep = {0};
		if (sts[i] != SPOOL_ACTIVE && sr != RATELIMIT_GONE) /* before the send, as the web's */
			cli_audit(c, &audit, "resend", ids[i], spool_status_dir(sts[i]));
		enum deliver_result r = sts[i] == SPOOL_ACTIVE || sr == RATELIMIT_GONE
					       ? DELIVER_BUSY
					       : deliver_one(&s.d, sts[i], ids[i], POLICY_FORCE, &rep);
		sender_unslot(&s, slot, r, &rep);
		printf("%s: %s\n", ids[i], r == DELIVER_BUSY ? "busy (another sender has it)"
					  : r == DELIVER_DEFERRED ? "deferred (the mail server could not be used; see above)"
					  : deliver_result_name(r));
		any_failed |= r != DELIVER_SENT;
		s.done++;
		if (r == DELIVER_IOERR)
			rc = EX_IOERR;
		if (r == DELIVER_DEFERRED && rep.session_failed)
			break; /* the server is down: the rest stay as they are */
	}
	sender_stop(&s);
	cli_audit_end(c, &audit);
	return rc ? rc : any_failed ? EX_TEMPFAIL : 0;
}

/* The receivers a filter matches, oldest first (the order they were meant
 * to go in), after asking (not for a dry run). */
static int resend_matches(struct cli *c, struct query_filter *f, bool yes, bool dry, bool quiet, size_t *np,
			  char (**idsp)[SPOOL_ID_MAX + 1], enum spool_status **stsp)
{
	/* Held receivers were put aside on purpose: only --status held takes them. */
	f->status_mask = (f->status_mask ? f->status_mask : SPOOL_ALL_MASK & ~(1u << SPOOL_HOLD)) & ~SPOOL_UNTOUCHED_MASK;
	int rc;
	if ((rc = dry ? cli_open_spool(c) : cli_check_owner(c)) != 0)
		return rc;
	struct query_result res;
	if ((rc = cli_query(c, f, &res)) != 0)
		return rc;
	size_t n = res.n;
	char (*ids)[SPOOL_ID_MAX + 1] = util_xmalloc((n ? n : 1) * sizeof *ids);
	enum spool_status *sts = util_xmalloc((n ? n : 1) * sizeof *sts);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "%s", res.rows[n - 1 - i].id);
		sts[i] = res.rows[n - 1 - i].status;
	}
	query_result_free(&res);
	*np = n;
	*idsp = ids;
	*stsp = sts;
	char q[128];
	snprintf(q, sizeof q, "%zu message receiver%s match%s. Resend %s?", n, n == 1 ? "" : "s",
		 n == 1 ? "es" : "", n == 1 ? "it" : "them");
	if (n == 0 && !quiet)
		printf("0 message receivers match; nothing to resend.\n");
	else if (n && !dry && !cli_confirm("resend", q, yes))
		return isatty(0) ? 1 : EX_USAGE;
	return 0;
}

/* Resolves every id first: a typo sends nothing. */
static int resend_resolve(struct cli *c, size_t n, char **args, bool dry, char (**idsp)[SPOOL_ID_MAX + 1],
			  enum spool_status **stsp)
{
	char (*ids)[SPOOL_ID_MAX + 1] = util_xmalloc(n * sizeof *ids);
	enum spool_status *sts = util_xmalloc(n * sizeof *sts);
	*idsp = ids;
	*stsp = sts;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = cli_resolve(c, args[i], &sts[i], ids[i], sizeof ids[i]);
		if (rc == 0 && sts[i] == SPOOL_CORRUPT) {
			cli_err("%s: in corrupt/: fix the file, then mv it to new/", ids[i]);
			rc = EX_DATAERR;
		}
	}
	return rc || dry ? rc : cli_check_owner(c);
}

int cmd_resend(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {CLI_FILTER_OPTIONS, {"verbose", no_argument, 0, 'v'},
					     {"yes", no_argument, 0, 'y'}, CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};
	struct query_filter f = {.now = time(NULL)};
	bool verbose = false, yes = false, filtered = false, dry = false, quiet = false;
	int o, r;
	while ((o = getopt_long(argc, argv, "vynq", opts, NULL)) != -1) {
		if ((r = cli_filter_option("resend", o, optarg, &f)) < 0)
			return EX_USAGE;
		if (r) {
			filtered = true;
		} else if (o == 'v') {
			verbose = true;
		} else if (o == 'y') {
			yes = true;
		} else if (!cli_dry_quiet_option(o, &dry, &quiet)) {
			return cli_usage_error("resend", "unknown option");
		}
	}
	if (filtered && optind != argc)
		return cli_usage_error("resend", "give ids or filters, not both");
	if (!filtered && optind == argc)
		return cli_usage_error("resend", "give receiver ids, or filters such as --status error");
	size_t n = (size_t)(argc - optind);
	char (*ids)[SPOOL_ID_MAX + 1] = NULL;
	enum spool_status *sts = NULL;
	int rc = filtered ? resend_matches(c, &f, yes, dry, quiet, &n, &ids, &sts)
			  : resend_resolve(c, n, argv + optind, dry, &ids, &sts);
	if (rc == 0 && n)
		rc = dry ? queue_dry_resend(n, ids, sts, filtered) : resend_all(c, n, ids, sts, verbose);
	free(ids);
	free(sts);
	return rc;
}

const char resend_failed_help[] =
	"Usage: msgspool resend-failed [--verbose] [--dry-run] [--quiet]\n"
	"Sends every receiver in failed/ whose failed count is within the resend\n"
	"limit, then prints how many were resent and how many exceeded the limit.\n"
	"Receivers in error/ are never resent by this command. Exits 75 when a\n"
	"receiver failed again.\n"
	"  -n, --dry-run  say what would be resent; change nothing\n"
	"  -q, --quiet    print nothing when nothing was resent\n";

struct over_ctx {
	struct cli *c;
	size_t over;
};

static int count_over(const char *id, void *vctx)
{
	struct over_ctx *o = vctx;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (receiver_load(&r, o->c->sp, SPOOL_FAILED, id, o->c->conf.max_receiver_size, err, sizeof err) == 0) {
		if (policy_decide(&o->c->conf, &r, POLICY_RETRY, time(NULL)).verdict == POLICY_NEVER)
			o->over++;
		receiver_free(&r);
	}
	return 0;
}

int cmd_resend_failed(struct cli *c, int argc, char **argv)
{
	struct pass p = {.cmd = "resend-failed", .st = SPOOL_FAILED, .mode = POLICY_RETRY};
	int rc = send_pass(c, argc, argv, &p);
	/* Devilry's own words, kept so scripts that read them go on working. */
	if (p.dry) {
		if (rc == 0 && (p.would || !p.quiet))
			printf("%zu messages would be automatically resent.\n"
			       "%zu messages has exceeded the retry limit (current limit: %ld)\n", p.would, p.over,
			       c->conf.resend_limit);
		return rc;
	}
	if (rc == 0 || rc == EX_IOERR) {
		struct over_ctx oc = {c, 0};
		spool_scan(c->sp, SPOOL_FAILED, count_over, &oc);
		const size_t *n = p.s.counts;
		size_t resent = n[DELIVER_SENT] + n[DELIVER_FAILED] + n[DELIVER_ERROR];
		if (resent || !p.quiet) {
			printf("%zu messages were automatically resent.\n", resent);
			printf("%zu messages has exceeded the retry limit (current limit: %ld)\n", oc.over,
			       c->conf.resend_limit);
		}
	}
	return pass_exit(&p, rc);
}
