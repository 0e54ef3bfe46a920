/* msgspoold: the sender daemon. inotify on new/ rings the doorbell, the
 * directory is the truth: a full scan at start, on IN_Q_OVERFLOW and on a
 * slow timer. Up to smtp.connections worker threads each keep one SMTP
 * session and claim receivers by rename before sending (so several daemons,
 * and the msgspool command, can share a spool). Failed receivers are
 * retried when policy.c says they are due and daemon.retry_failed_after is
 * set. SIGTERM/SIGINT finish the attempts in flight and exit 0; SIGHUP
 * re-reads the configuration (a new connection range too: more threads or
 * fewer allowed) and keeps the old one when the new one is bad.
 *
 * The sending threads are worker.c's, the state they share daemon.h's.
 * It owns the daemon's start and stop, timers, privileges and configuration swap;
 * it must never decide when a receiver may be tried (policy.c) nor how an
 * attempt goes (deliver.c). Its behaviour is described in msgspoold(8). */
#include "config.h"
#include "daemon.h"
#include "compose.h"
#include "conf.h"
#include "conns.h"
#include "deliver.h"
#include "dlog.h"
#include "evloop.h"
#include "jobq.h"
#include "msgid.h"
#include "policy.h"
#include "ratelimit.h"
#include "status.h"
#include "receiver.h"
#include "spool.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define TMP_MAX_AGE (36 * 3600)
/* Seconds between the full housekeeping passes, which read every record in
 * messages/: rare enough to cost nothing, far within TMP_MAX_AGE. */
#define HOUSEKEEPING_FULL 3600

/* The priority of a receiver in new/, read when it is not queued yet and
 * others may be: in a scan, or with others queued or in flight (else there
 * is nothing to order). */
static int priority_of(struct daemon *d, enum spool_status from, const char *id, bool scanning)
{
	pthread_mutex_lock(&d->mu);
	bool others = (scanning || d->q.nset > 0) && !jobq_has(&d->q, id);
	pthread_mutex_unlock(&d->mu);
	char *data;
	size_t len;
	struct stat st;
	if (from != SPOOL_NEW || !others ||
	    spool_read(d->sp, from, id, d->conf->max_receiver_size, &data, &len, &st) < 0)
		return RECEIVER_NORMAL;
	enum receiver_priority p = receiver_peek_priority(data, len);
	free(data);
	return (int)p;
}

static bool enqueue(struct daemon *d, enum spool_status from, const char *id, bool scanning)
{
	int level = priority_of(d, from, id, scanning);
	pthread_mutex_lock(&d->mu);
	if (from == SPOOL_NEW && jobq_stuck_has(&d->q, id)) {
		/* Logged once already: passed over until it changes. */
		struct stat st;
		bool seen = spool_stat(d->sp, from, id, &st) == 0;
		if (jobq_stuck_same(&d->q, id, seen ? &st : NULL) || !seen) {
			pthread_mutex_unlock(&d->mu);
			return true;
		}
	}
	bool ok = jobq_push_at(&d->q, from, id, level);
	if (ok)
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return ok;
}

/* ---- scanning ---- */

/* Logs once each entry of new/ that is not a receiver name (x.yml,
 * x.yaml.tmp, a space): it is never sent, and must not go unmentioned. */
static int stray(const char *name, void *ctx)
{
	struct daemon *d = ctx;
	char key[300], shown[300];
	struct stat once = {0};
	snprintf(key, sizeof key, "/%s", name); /* never an id: ids have no '/' */
	pthread_mutex_lock(&d->mu);
	bool seen = jobq_stuck_same(&d->q, key, &once);
	if (!seen)
		jobq_stuck_add(&d->q, key, &once);
	pthread_mutex_unlock(&d->mu);
	if (!seen)
		dlog(LOG_WARNING, "%s/new/%s: not a receiver name (ID.yaml; an id has letters, digits, '.', '_', '-'); "
		     "never sent", spool_root(d->sp), util_escape(name, shown, sizeof shown));
	return 0;
}

static int scan_new_cb(const char *id, void *vctx)
{
	/* Full: stop here, the workers will ask again. */
	return enqueue(vctx, SPOOL_NEW, id, true) ? 0 : 1;
}

/* Queues the failed receivers the policy says are due. */
static int scan_failed_cb(const char *id, void *vctx)
{
	struct daemon *d = vctx;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (receiver_load(&r, d->sp, SPOOL_FAILED, id, d->conf->max_receiver_size, err, sizeof err) < 0)
		return 0;
	enum policy_verdict v = policy_decide(d->conf, &r, POLICY_RETRY_DUE, time(NULL)).verdict;
	if (v == POLICY_NOW || v == POLICY_EXPIRED) /* an expired one goes to error/ */
		enqueue(d, SPOOL_FAILED, id, false);
	receiver_free(&r);
	return 0;
}

static void rescan(struct daemon *d, bool failed_too)
{
	pthread_mutex_lock(&d->mu);
	d->q.backlog = false;
	pthread_mutex_unlock(&d->mu);
	if (spool_scan(d->sp, SPOOL_NEW, scan_new_cb, d) < 0)
		dlog(LOG_ERR, "%s/new: cannot scan: %s", spool_root(d->sp), strerror(errno));
	if (failed_too)
		spool_scan_strays(d->sp, SPOOL_NEW, stray, d);
	if (failed_too && d->conf->daemon.retry_failed_after > 0 &&
	    spool_scan(d->sp, SPOOL_FAILED, scan_failed_cb, d) < 0 && errno)
		dlog(LOG_ERR, "%s/failed: cannot scan: %s", spool_root(d->sp), strerror(errno));
}

/* Receivers left in active/ by a sender that died (a crash, or a msgspool
 * resend killed at the terminal): at start and at every slow rescan, so a
 * long-running daemon does not leave them for its next start; live senders
 * hold locks on theirs and are passed over. With `full` (at start and
 * hourly) also composed batches a crash left half published, and then old
 * tmp/ files: in that order, as an unpublished batch's receivers wait in
 * tmp/. Called from the main thread, which alone replaces d->conf. */
static void housekeeping(struct daemon *d, bool full)
{
	struct deliver dl = {d->sp, d->conf, NULL, dlog_fn, NULL, NULL, false};
	int moved = deliver_recover(&dl);
	int cleaned = 0;
	if (full) {
		int batches = compose_recover(d->sp, dlog_fn, NULL);
		if (batches > 0)
			dlog(LOG_NOTICE, "recovery: published %d composed messages a crash left half done", batches);
		cleaned = spool_clean_tmp(d->sp, TMP_MAX_AGE);
	}
	if (moved > 0 || cleaned > 0)
		dlog(LOG_NOTICE, "recovery: %d receivers moved out of active/, %d old tmp/ files removed",
		     moved > 0 ? moved : 0, cleaned > 0 ? cleaned : 0);
}

/* ---- the main loop's events ---- */

static void on_name(void *ctx, const char *name)
{
	char id[SPOOL_ID_MAX + 1];
	if (spool_name_to_id(name, id, sizeof id))
		enqueue(ctx, SPOOL_NEW, id, false);
	else
		stray(name, ctx);
}

static void on_overflow(void *ctx)
{
	dlog(LOG_NOTICE, "inotify queue overflowed; rescanning new/");
	rescan(ctx, false);
}

static void on_wake(void *ctx)
{
	struct daemon *d = ctx;
	pthread_mutex_lock(&d->mu);
	bool want = d->want_rescan;
	d->want_rescan = false;
	pthread_mutex_unlock(&d->mu);
	if (want)
		rescan(d, false);
}

/* The slow rescan with housekeeping, the retry scan of failed/, and the
 * second looks at files that were still being written. */
static time_t on_timer(void *ctx, time_t now)
{
	struct daemon *d = ctx;
	long retry = d->conf->daemon.retry_failed_after;
	pthread_mutex_lock(&d->mu);
	size_t queued = d->q.n;
	time_t later = d->q.nlater ? jobq_later_run(&d->q, now) : 0;
	if (d->q.n > queued) /* only then: this runs after every event */
		pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (now >= d->next_rescan) {
		bool full = now >= d->next_full;
		housekeeping(d, full);
		if (full)
			d->next_full = now + HOUSEKEEPING_FULL;
		rescan(d, true);
		d->next_retry = now + 1;
		d->next_rescan = now + d->conf->daemon.rescan_interval;
	} else if (retry > 0 && now >= d->next_retry) {
		spool_scan(d->sp, SPOOL_FAILED, scan_failed_cb, d);
		/* Often enough for short delays, rarely for long ones. */
		long step = retry / 4;
		d->next_retry = now + (step < 1 ? 1 : step > 60 ? 60 : step);
	}
	time_t next = retry > 0 && d->next_retry < d->next_rescan ? d->next_retry : d->next_rescan;
	if (status_dirty() && now >= d->next_status) { /* at most once a second */
		status_flush(d->sp, false);
		d->next_status = now + 1;
	}
	if (status_dirty() && d->next_status < next)
		next = d->next_status;
	return later && later < next ? later : next;
}

/* ---- configuration, privileges ---- */

/* The configuration and the SMTP secret it names. `old`, when reloading
 * without the privileges to read the file again, lends its secret for the
 * same file. */
static struct conf *load_conf(const char *path, const char *spool_override, const struct conf *old, bool secret,
			      char *err, size_t errsz)
{
	struct conf *c = util_xmalloc(sizeof *c);
	conf_defaults(c);
	if (path && conf_load(c, path, err, errsz) < 0) {
		conf_free(c);
		free(c);
		return NULL;
	}
	if (secret && c->transport == CONF_TRANSPORT_SMTP && c->smtp.username && c->smtp.password_file) {
		c->smtp.password = conf_read_password(c->smtp.password_file, err, errsz);
		if (!c->smtp.password && old && old->smtp.password && old->smtp.password_file &&
		    !strcmp(old->smtp.password_file, c->smtp.password_file))
			c->smtp.password = util_strdup(old->smtp.password);
		if (!c->smtp.password) {
			conf_free(c);
			free(c);
			return NULL;
		}
	}
	if (spool_override) {
		free(c->spool);
		c->spool = util_strdup(spool_override);
	}
	return c;
}

/* Started as root: become daemon.user, or refuse unless it names root. */
static int drop_privileges(const struct conf *c)
{
	if (geteuid() != 0)
		return 0;
	if (!c->daemon.user) {
		dlog(LOG_ERR, "refusing to run as root: set daemon.user in %s to the spool's owner",
		     c->path ? c->path : "the configuration");
		return EX_CONFIG;
	}
	if (!strcmp(c->daemon.user, "root"))
		return 0;
	struct passwd *pw = getpwnam(c->daemon.user);
	if (!pw) {
		dlog(LOG_ERR, "daemon.user: no such user '%s'", c->daemon.user);
		return EX_CONFIG;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
	    setuid(0) == 0) {
		dlog(LOG_ERR, "cannot become %s: %s", pw->pw_name, strerror(errno));
		return EX_OSERR;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: msgspoold [-c FILE] [--spool DIR] [--foreground]\n"
		   "The msgspool sender daemon: sends what appears in the spool's new/.\n"
		   "  -c, --config FILE  configuration (default $MSGSPOOL_CONFIG, then %s)\n"
		   "  --spool DIR        use this spool instead of the configured one\n"
		   "  -f, --foreground   stay in the foreground and log to stderr (else syslog)\n"
		   "  -h, --help         this help\n"
		   "Signals: TERM/INT finish the attempts in flight and exit; HUP re-reads the\n"
		   "configuration.\n", CONF_DEFAULT_PATH);
}

static int daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

/* The connection range a configuration asks for: smtp.connections over
 * SMTP. A Maildir has no server to spare, nor a count to adapt: min workers
 * (a whole number's count), all of them always, as many as before the
 * count adapted; not max threads that would only take turns. */
static void wanted_range(const struct conf *c, long *min, long *max)
{
	bool smtp = c->transport == CONF_TRANSPORT_SMTP;
	*max = smtp ? c->smtp.connections : c->smtp.connections_min;
	*min = smtp ? c->smtp.connections_min : *max;
}

/* Starts worker threads until n run (the main thread alone: it alone
 * reads d->workers, in stop_work). A new one waits on d->spare until
 * conns.c allows it. */
static void start_workers(struct daemon *d, size_t n)
{
	while (d->workers < n && d->workers < DAEMON_WORKERS_MAX) {
		struct worker *w = &d->ws[d->workers];
		*w = (struct worker){.d = d, .n = d->workers};
		int rc = pthread_create(&d->threads[d->workers], NULL, worker_main, w);
		if (rc) {
			dlog(LOG_ERR, "cannot start worker %zu: %s", d->workers, strerror(rc));
			return;
		}
		d->workers++;
	}
}

/* A reload's smtp.connections: the range conns.c keeps the count in, and
 * the threads for a higher max; those above a lower one close their
 * connection once their attempt is settled (next_job). */
static void apply_range(struct daemon *d, const struct conf *c)
{
	long min, max;
	wanted_range(c, &min, &max);
	pthread_mutex_lock(&d->mu);
	long omin = d->cc.min, omax = d->cc.max;
	d->idle_close = c->daemon.idle_close;
	d->paced = c->smtp.nrates > 0;
	if (min != omin || max != omax) {
		conns_set_range(&d->cc, min, max);
		status_range(min, max);
		status_conns(d->cc.allowed);
	}
	pthread_cond_broadcast(&d->cv);
	pthread_cond_broadcast(&d->spare);
	pthread_mutex_unlock(&d->mu);
	if (min == omin && max == omax)
		return;
	start_workers(d, (size_t)max);
	dlog(LOG_NOTICE, "SIGHUP: connections {%ld, %ld} -> {%ld, %ld}", omin, omax, min, max);
}

static void on_hup(void *ctx)
{
	struct daemon *d = ctx;
	char err[512] = "";
	struct conf *c = load_conf(d->conf_path, d->spool_override, d->conf, true, err, sizeof err);
	if (!c) {
		dlog(LOG_ERR, "SIGHUP: %s; keeping the configuration in use", err);
		return;
	}
	if (strcmp(c->spool, d->conf->spool))
		dlog(LOG_WARNING, "SIGHUP: a new spool (%s) takes a restart; still using %s", c->spool, d->conf->spool);
	free(c->spool);
	c->spool = util_strdup(d->conf->spool);
	pthread_rwlock_wrlock(&d->conf_lock);
	struct conf *old = d->conf;
	d->conf = c;
	d->conf_gen++;
	pthread_rwlock_unlock(&d->conf_lock);
	ratelimit_set(d->rl, c);
	conf_free(old);
	free(old);
	dlog(LOG_NOTICE, "SIGHUP: configuration re-read from %s", d->conf_path ? d->conf_path : "built-in defaults");
	apply_range(d, c);
}

/* ---- start and stop ---- */

/* Options into d; -1 to go on, else the exit code. */
static int parse_args(struct daemon *d, int argc, char **argv, bool *foreground, bool *version)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"spool", required_argument, 0, 's'},
		{"foreground", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	const char *given = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': given = optarg; break;
		case 's': d->spool_override = optarg; break;
		case 'f': *foreground = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': *version = true; break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	d->conf_path = conf_locate(given);
	if (!d->conf_path)
		fprintf(stderr, "msgspoold: warning: no configuration file (%s): using built-in defaults (spool %s)\n",
			CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL);
	return -1;
}

/* Recovery, then the committer and the workers. */
static void start_work(struct daemon *d)
{
	housekeeping(d, true);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	pthread_cond_init(&d->spare, NULL);
	/* Writer first: a SIGHUP must not wait behind a busy queue forever. */
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d->conf_lock, &rwa);
	jobq_init(&d->q, QUEUE_HIGH);
	d->idle_close = d->conf->daemon.idle_close;
	d->paced = d->conf->smtp.nrates > 0;
	long min, max;
	wanted_range(d->conf, &min, &max);
	conns_init(&d->cc, min, max);
	d->rl = ratelimit_new(d->sp, d->conf);
	status_begin(d->cc.min, d->cc.max);
	status_conns(d->cc.allowed);
	d->committer = committer_start(d->sp, dlog_fn, NULL);
	if (!d->committer)
		dlog(LOG_WARNING, "no committer thread (%s): each sent receiver is recorded alone", strerror(errno));
	start_workers(d, (size_t)max);
	dlog(LOG_NOTICE, "started: spool %s, %zu workers, transport %s, connections: %ld", d->conf->spool,
	     d->workers, conf_transport_name(d->conf->transport), d->cc.allowed);
	bool whole;
	const char *fs = spool_fs_name(d->sp, &whole);
	dlog(LOG_INFO, "spool on %s: %s", fs,
	     whole ? "renames reach the disk whole and in order, claims are not fenced (spool-layout/README.md rule 3)" :
		     "renames may reach the disk half done or out of order, claims are fenced (spool-layout/README.md rule 3)");
	rescan(d, true);
	time_t now = time(NULL);
	d->next_rescan = now + d->conf->daemon.rescan_interval;
	d->next_full = now + HOUSEKEEPING_FULL;
	d->next_retry = now + 1;
}

/* Finishes the attempts in flight, then every pending record. */
static void stop_work(struct daemon *d)
{
	dlog(LOG_NOTICE, "stopping: finishing the attempts in flight");
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	pthread_cond_broadcast(&d->cv);
	pthread_cond_broadcast(&d->spare);
	pthread_mutex_unlock(&d->mu);
	ratelimit_stop(d->rl);
	for (size_t i = 0; i < d->workers; i++)
		pthread_join(d->threads[i], NULL);
	committer_stop(d->committer); /* after the workers: their last records too */
	status_flush(d->sp, true);
	dlog(LOG_NOTICE, "stopped");
	ratelimit_free(d->rl);
	jobq_free(&d->q);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	bool foreground = false, version = false;
	int rc = parse_args(&d, argc, argv, &foreground, &version);
	if (rc >= 0)
		return rc;
	char err[512] = "", newdir[4200];
	/* As root still: the password file may be root's alone. */
	if (!(d.conf = load_conf(d.conf_path, d.spool_override, NULL, !version, err, sizeof err))) {
		fprintf(stderr, "msgspoold: %s\n", err);
		return EX_CONFIG;
	}
	if (version) {
		conf_print_version(stdout, "msgspoold", d.conf);
		return 0;
	}
	dlog_open(foreground);
	if ((rc = drop_privileges(d.conf)) != 0)
		return rc;
	struct transport *probe = transport_open(d.conf, err, sizeof err);
	if (!probe) { /* a configuration no worker could use: say so now */
		dlog(LOG_ERR, "%s", err);
		return EX_CONFIG;
	}
	transport_free(probe);
	if (spool_open(&d.sp, d.conf->spool) < 0) {
		dlog(LOG_ERR, "%s: cannot open spool: %s", d.conf->spool, strerror(errno));
		return EX_CONFIG; /* nothing could ever be sent: say so at once */
	}
	if (msgid_key_make(d.sp) < 0) /* before any sender needs it (msgid.h) */
		dlog(LOG_WARNING, "%s/.message-id-key: cannot make or trust it: %s; Message-IDs of files written "
		     "without message_id get random bits", d.conf->spool, strerror(errno));
	char unsafe[64];
	spool_unsafe_dirs(d.sp, unsafe, sizeof unsafe); /* a producer could move the daemon's files there */
	if (*unsafe)
		dlog(LOG_WARNING, "%s: %s writable by others without the sticky bit (run msgspool init again)", d.conf->spool, unsafe);
	if (!foreground && daemonize() < 0) {
		dlog(LOG_ERR, "cannot become a daemon: %s", strerror(errno));
		return EX_OSERR;
	}
	dlog_set_pid();
	spool_path(d.sp, SPOOL_NEW, NULL, newdir, sizeof newdir);
	if (evloop_open(&d.ev, newdir) < 0) {
		dlog(LOG_ERR, "%s: cannot watch: %s", newdir, strerror(errno));
		return EX_OSERR;
	}
	start_work(&d);
	const struct evloop_ops ops = {&d, on_hup, on_name, on_overflow, on_wake, on_timer};
	evloop_run(&d.ev, &ops);
	stop_work(&d);
	evloop_close(&d.ev);
	spool_close(d.sp);
	conf_free(d.conf);
	free(d.conf);
	return 0;
}
