/* msgspoold: the sender daemon. inotify on new/ rings the doorbell, the
 * directory is the truth: a full scan at start, on IN_Q_OVERFLOW and on a
 * slow timer. Up to smtp.connections worker threads each keep one SMTP
 * session and claim receivers by rename before sending (so several daemons,
 * and the msgspool command, can share a spool). Failed receivers are
 * retried on a doubling delay when daemon.retry_failed_after is set.
 * SIGTERM/SIGINT finish the attempts in flight and exit 0; SIGHUP re-reads
 * the configuration and keeps the old one when the new one is bad. */
#include "config.h"
#include "compose.h"
#include "conf.h"
#include "deliver.h"
#include "policy.h"
#include "receiver.h"
#include "spool.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define TMP_MAX_AGE (36 * 3600)
/* Seconds between the full housekeeping passes, which read every record in
 * messages/: rare enough to cost nothing, far within TMP_MAX_AGE. */
#define HOUSEKEEPING_FULL 3600
/* At most this many ids wait in memory; the rest wait in new/, found by a
 * rescan when the queue runs low. Memory does not grow with the backlog. */
#define QUEUE_HIGH 4096
#define QUEUE_LOW 512

/* ---- logging ---- */

static bool log_stderr = true;
/* Set again after daemonize forks: glibc no longer caches getpid, and a
 * system call per log line is a system call per receiver. */
static pid_t log_pid;

static void vlogmsg(int prio, const char *fmt, va_list ap)
{
	if (!log_stderr) {
		vsyslog(prio, fmt, ap);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
	/* One write per line: lines from worker threads never interleave. */
	char line[2048];
	int n = snprintf(line, sizeof line, "%s.%03ld msgspoold[%ld]: ", stamp, ts.tv_nsec / 1000000, (long)log_pid);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m < sizeof line - 1 ? (size_t)n + (size_t)m : sizeof line - 2;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(prio, fmt, ap);
	va_end(ap);
}

static void deliver_logger(void *ctx, int prio, const char *fmt, ...)
{
	(void)ctx;
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(prio, fmt, ap);
	va_end(ap);
}

/* ---- the work queue: ids waiting, with a set so none is queued twice ---- */

struct job {
	char id[SPOOL_ID_MAX + 1];
	enum spool_status from;
};

#define SET_SIZE 65536	/* buckets; the set holds any number of ids */

struct entry {
	struct entry *next;
	char id[];
};

struct daemon {
	struct spool *sp;
	struct conf *conf;		/* current configuration (swapped under conf_lock) */
	pthread_rwlock_t conf_lock;	/* workers hold it for reading during an attempt */
	unsigned long conf_gen;
	const char *conf_path;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *jobs;
	size_t head, n, cap;
	struct entry *set[SET_SIZE];	/* queued or in flight */
	bool stopping;
	time_t backoff_until;		/* the server failed: nobody sends before this */
	long backoff;			/* seconds, doubling up to 60 */
	long idle_close;		/* copy of daemon.idle_close, read under mu */
	size_t workers;
	pthread_t *threads;
	bool backlog;			/* new/ may hold more than the queue */
	int wakefd;			/* eventfd: workers ask the main loop to rescan */
	struct committer *committer; /* records sent receivers in groups */
};

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % SET_SIZE;
}

static bool set_has(struct daemon *d, const char *id)
{
	for (struct entry *e = d->set[hash(id)]; e; e = e->next)
		if (!strcmp(e->id, id))
			return true;
	return false;
}

static void set_add(struct daemon *d, const char *id)
{
	size_t l = strlen(id) + 1;
	struct entry *e = util_xmalloc(sizeof *e + l);
	memcpy(e->id, id, l);
	unsigned h = hash(id);
	e->next = d->set[h];
	d->set[h] = e;
}

static void set_del(struct daemon *d, const char *id)
{
	for (struct entry **p = &d->set[hash(id)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->id, id)) {
			struct entry *e = *p;
			*p = e->next;
			free(e);
			return;
		}
	}
}

/* Queues an id unless it is already queued or being sent; false when the
 * queue is full (the file stays in new/ for a rescan). Caller holds mu. */
static bool enqueue_locked(struct daemon *d, enum spool_status from, const char *id)
{
	if (set_has(d, id))
		return true;
	if (d->n >= QUEUE_HIGH) {
		d->backlog = true;
		return false;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		struct job *j = util_xmalloc(cap * sizeof *j);
		for (size_t i = 0; i < d->n; i++)
			j[i] = d->jobs[(d->head + i) % d->cap];
		free(d->jobs);
		d->jobs = j;
		d->head = 0;
		d->cap = cap;
	}
	struct job *j = &d->jobs[(d->head + d->n) % d->cap];
	snprintf(j->id, sizeof j->id, "%s", id);
	j->from = from;
	d->n++;
	set_add(d, id);
	pthread_cond_signal(&d->cv);
	return true;
}

static bool enqueue(struct daemon *d, enum spool_status from, const char *id)
{
	pthread_mutex_lock(&d->mu);
	bool ok = enqueue_locked(d, from, id);
	pthread_mutex_unlock(&d->mu);
	return ok;
}

/* ---- workers ---- */

struct worker {
	struct daemon *d;
	size_t n;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct transport *t = NULL;
	unsigned long gen = 0;
	bool connected = false;
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->stopping && (d->n == 0 || time(NULL) < d->backoff_until)) {
			/* Close an idle connection after idle_close seconds. */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			long wait = d->n ? (long)(d->backoff_until - time(NULL)) : (connected ? d->idle_close : 3600);
			until.tv_sec += wait > 0 ? wait : 1;
			int rc = pthread_cond_timedwait(&d->cv, &d->mu, &until);
			if (rc == ETIMEDOUT && connected && d->n == 0) {
				pthread_mutex_unlock(&d->mu);
				transport_idle(t);
				connected = false;
				pthread_mutex_lock(&d->mu);
			}
		}
		if (d->stopping)
			break;
		struct job job = d->jobs[d->head];
		d->head = (d->head + 1) % d->cap;
		d->n--;
		if (d->backlog && d->n == QUEUE_LOW) {
			uint64_t one = 1;
			d->backlog = false;
			if (write(d->wakefd, &one, sizeof one) < 0)
				logmsg(LOG_ERR, "eventfd: %s", strerror(errno));
		}
		pthread_mutex_unlock(&d->mu);

		pthread_rwlock_rdlock(&d->conf_lock);
		if (!t || gen != d->conf_gen) {
			char err[512] = "";
			transport_free(t);
			t = transport_open(d->conf, err, sizeof err);
			gen = d->conf_gen;
			connected = false;
			if (!t)
				logmsg(LOG_ERR, "worker %zu: %s", w->n, err);
		}
		struct deliver_report rep = {0};
		enum deliver_result r = DELIVER_DEFERRED;
		if (t) {
			struct deliver dl = {d->sp, d->conf, t, deliver_logger, NULL, d->committer};
			r = deliver_one(&dl, job.from, job.id,
					job.from == SPOOL_FAILED ? POLICY_RETRY_DUE : POLICY_SEND, &rep);
			connected = true;
		}
		pthread_rwlock_unlock(&d->conf_lock);

		pthread_mutex_lock(&d->mu);
		set_del(d, job.id);
		if ((r == DELIVER_DEFERRED && (rep.session_failed || !t)) || r == DELIVER_IOERR) {
			/* The server is away, or the spool cannot be written (a full
			 * disk, a read-only mount): everybody waits, doubling up to a
			 * minute, then this one goes first. */
			d->backoff = policy_session_backoff(d->backoff);
			d->backoff_until = time(NULL) + d->backoff;
			logmsg(LOG_WARNING, "%s; next try in %ld s",
			       r == DELIVER_IOERR ? "spool not writable" : "mail server unusable", d->backoff);
			enqueue_locked(d, job.from, job.id);
			connected = r == DELIVER_IOERR && connected;
		} else if (r == DELIVER_SENT || r == DELIVER_FAILED || r == DELIVER_ERROR) {
			d->backoff = 0;
		}
	}
	pthread_mutex_unlock(&d->mu);
	transport_free(t);
	return NULL;
}

/* ---- scanning ---- */

struct scan_ctx {
	struct daemon *d;
	enum spool_status st;
	size_t n;
	time_t now;
};

static int scan_new_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	if (!enqueue(c->d, SPOOL_NEW, id))
		return 1; /* full: stop here, the workers will ask again */
	c->n++;
	return 0;
}

/* Queues the failed receivers the policy says are due. */
static int scan_failed_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	struct daemon *d = c->d;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (receiver_load(&r, d->sp, SPOOL_FAILED, id, d->conf->max_receiver_size, err, sizeof err) < 0)
		return 0;
	if (policy_decide(d->conf, &r, POLICY_RETRY_DUE, c->now).verdict == POLICY_NOW) {
		enqueue(d, SPOOL_FAILED, id);
		c->n++;
	}
	receiver_free(&r);
	return 0;
}

static void rescan(struct daemon *d, bool failed_too)
{
	struct scan_ctx c = {d, SPOOL_NEW, 0, time(NULL)};
	pthread_mutex_lock(&d->mu);
	d->backlog = false;
	pthread_mutex_unlock(&d->mu);
	if (spool_scan(d->sp, SPOOL_NEW, scan_new_cb, &c) < 0)
		logmsg(LOG_ERR, "%s/new: cannot scan: %s", spool_root(d->sp), strerror(errno));
	if (failed_too && d->conf->daemon.retry_failed_after > 0 &&
	    spool_scan(d->sp, SPOOL_FAILED, scan_failed_cb, &c) < 0 && errno)
		logmsg(LOG_ERR, "%s/failed: cannot scan: %s", spool_root(d->sp), strerror(errno));
}

/* ---- configuration, privileges ---- */

/* Receivers left in active/ by a sender that died (a crash, or a msgspool
 * resend killed at the terminal): at start and at every slow rescan, so a
 * long-running daemon does not leave them for its next start; live senders
 * hold locks on theirs and are passed over. With `full` (at start and
 * hourly) also composed batches a crash left half published, and then old
 * tmp/ files: in that order, as an unpublished batch's receivers wait in
 * tmp/. Called from the main thread, which alone replaces d->conf. */
static void housekeeping(struct daemon *d, bool full)
{
	struct deliver dl = {d->sp, d->conf, NULL, deliver_logger, NULL, NULL};
	int moved = deliver_recover(&dl);
	int cleaned = 0;
	if (full) {
		int batches = compose_recover(d->sp);
		if (batches > 0)
			logmsg(LOG_NOTICE, "recovery: published %d composed messages a crash left half done", batches);
		cleaned = spool_clean_tmp(d->sp, TMP_MAX_AGE);
	}
	if (moved > 0 || cleaned > 0)
		logmsg(LOG_NOTICE, "recovery: %d receivers moved out of active/, %d old tmp/ files removed",
		       moved > 0 ? moved : 0, cleaned > 0 ? cleaned : 0);
}

static struct conf *load_conf(const char *path, const char *spool_override, char *err, size_t errsz)
{
	struct conf *c = util_xmalloc(sizeof *c);
	conf_defaults(c);
	if (path && conf_load(c, path, err, errsz) < 0) {
		conf_free(c);
		free(c);
		return NULL;
	}
	if (spool_override) {
		free(c->spool);
		c->spool = strdup(spool_override);
	}
	return c;
}

/* Started as root: become daemon.user, or refuse unless it names root. */
static int drop_privileges(const struct conf *c)
{
	if (geteuid() != 0)
		return 0;
	if (!c->daemon.user) {
		logmsg(LOG_ERR, "refusing to run as root: set daemon.user in %s to the spool's owner",
		       c->path ? c->path : "the configuration");
		return EX_CONFIG;
	}
	if (!strcmp(c->daemon.user, "root"))
		return 0;
	struct passwd *pw = getpwnam(c->daemon.user);
	if (!pw) {
		logmsg(LOG_ERR, "daemon.user: no such user '%s'", c->daemon.user);
		return EX_NOUSER;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
	    setuid(0) == 0) {
		logmsg(LOG_ERR, "cannot become %s: %s", pw->pw_name, strerror(errno));
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

static void reload(struct daemon *d, const char *spool_override)
{
	char err[512] = "";
	struct conf *c = load_conf(d->conf_path, spool_override, err, sizeof err);
	if (!c) {
		logmsg(LOG_ERR, "SIGHUP: %s; keeping the configuration in use", err);
		return;
	}
	if (strcmp(c->spool, d->conf->spool))
		logmsg(LOG_WARNING, "SIGHUP: a new spool (%s) takes a restart; still using %s", c->spool, d->conf->spool);
	free(c->spool);
	c->spool = strdup(d->conf->spool);
	pthread_rwlock_wrlock(&d->conf_lock);
	struct conf *old = d->conf;
	d->conf = c;
	d->conf_gen++;
	pthread_rwlock_unlock(&d->conf_lock);
	conf_free(old);
	free(old);
	logmsg(LOG_NOTICE, "SIGHUP: configuration re-read from %s", d->conf_path ? d->conf_path : "built-in defaults");
	pthread_mutex_lock(&d->mu);
	d->idle_close = c->daemon.idle_close;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"spool", required_argument, 0, 's'},
		{"foreground", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	const char *conf_path = NULL, *spool_override = NULL;
	bool foreground = false, version = false;
	log_pid = getpid();
	int o;
	while ((o = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': conf_path = optarg; break;
		case 's': spool_override = optarg; break;
		case 'f': foreground = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': version = true; break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	conf_path = conf_locate(conf_path);
	if (!conf_path)
		fprintf(stderr, "msgspoold: warning: no configuration file (%s): using built-in defaults (spool %s)\n",
			CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL);

	static struct daemon d;
	char err[512] = "";
	d.conf_path = conf_path;
	d.conf = load_conf(conf_path, spool_override, err, sizeof err);
	if (!d.conf) {
		fprintf(stderr, "msgspoold: %s\n", err);
		return EX_CONFIG;
	}
	if (version) {
		conf_print_version(stdout, "msgspoold", d.conf);
		return 0;
	}
	if (!foreground) {
		log_stderr = false;
		openlog("msgspoold", LOG_PID, LOG_MAIL);
	}
	int rc = drop_privileges(d.conf);
	if (rc)
		return rc;
	struct transport *probe = transport_open(d.conf, err, sizeof err);
	if (!probe) { /* a configuration no worker could use: say so now */
		logmsg(LOG_ERR, "%s", err);
		return EX_CONFIG;
	}
	transport_free(probe);
	if (spool_open(&d.sp, d.conf->spool) < 0) {
		logmsg(LOG_ERR, "%s: cannot open spool: %s", d.conf->spool, strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_NOPERM;
	}
	if (!foreground && daemonize() < 0) {
		logmsg(LOG_ERR, "cannot become a daemon: %s", strerror(errno));
		return EX_OSERR;
	}
	log_pid = getpid();
	/* Signals arrive through a file descriptor, in the main thread only. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	d.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char newdir[4200];
	spool_path(d.sp, SPOOL_NEW, NULL, newdir, sizeof newdir);
	if (sfd < 0 || ifd < 0 || d.wakefd < 0 || inotify_add_watch(ifd, newdir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		logmsg(LOG_ERR, "%s: cannot watch: %s", newdir, strerror(errno));
		return EX_OSERR;
	}

	/* Recovery: what a crash left in active/ and half published, and old
	 * tmp/ files. */
	housekeeping(&d, true);

	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	/* Writer first: a SIGHUP must not wait behind a busy queue forever. */
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d.conf_lock, &rwa);
	d.idle_close = d.conf->daemon.idle_close;
	d.workers = (size_t)d.conf->smtp.connections;
	d.committer = committer_start(d.sp, deliver_logger, NULL);
	if (!d.committer)
		logmsg(LOG_WARNING, "no committer thread (%s): each sent receiver is recorded alone",
		       strerror(errno));
	d.threads = util_xmalloc(d.workers * sizeof *d.threads);
	struct worker *ws = util_xmalloc(d.workers * sizeof *ws);
	for (size_t i = 0; i < d.workers; i++) {
		ws[i].d = &d;
		ws[i].n = i;
		pthread_create(&d.threads[i], NULL, worker_main, &ws[i]);
	}
	logmsg(LOG_NOTICE, "started: spool %s, %zu workers, transport %s", d.conf->spool, d.workers,
	       d.conf->transport == CONF_TRANSPORT_SMTP ? "smtp" : "maildir");
	rescan(&d, true);

	time_t next_rescan = time(NULL) + d.conf->daemon.rescan_interval;
	time_t next_full = time(NULL) + HOUSEKEEPING_FULL;
	time_t next_retry = time(NULL) + 1;
	bool running = true;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (running) {
		time_t now = time(NULL);
		time_t next = next_rescan;
		if (d.conf->daemon.retry_failed_after > 0 && next_retry < next)
			next = next_retry;
		struct pollfd pfd[3] = {{ifd, POLLIN, 0}, {sfd, POLLIN, 0}, {d.wakefd, POLLIN, 0}};
		int timeout = next > now ? (int)(next - now) * 1000 : 0;
		int n = poll(pfd, 3, timeout);
		if (n > 0 && (pfd[2].revents & POLLIN)) {
			uint64_t v;
			if (read(d.wakefd, &v, sizeof v) == (ssize_t)sizeof v)
				rescan(&d, false);
		}
		if (n < 0 && errno != EINTR) {
			logmsg(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			ssize_t len;
			while ((len = read(ifd, buf, sizeof buf)) > 0) {
				for (char *p = buf; p < buf + len;) {
					struct inotify_event *ev = (struct inotify_event *)p;
					char id[SPOOL_ID_MAX + 1];
					if (ev->mask & IN_Q_OVERFLOW) {
						logmsg(LOG_NOTICE, "inotify queue overflowed; rescanning new/");
						rescan(&d, false);
					} else if (ev->len && spool_name_to_id(ev->name, id, sizeof id)) {
						enqueue(&d, SPOOL_NEW, id);
					}
					p += sizeof *ev + ev->len;
				}
			}
		}
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGHUP)
					reload(&d, spool_override);
				else
					running = false;
			}
		}
		now = time(NULL);
		if (now >= next_rescan) {
			bool full = now >= next_full;
			housekeeping(&d, full);
			if (full)
				next_full = now + HOUSEKEEPING_FULL;
			rescan(&d, true);
			next_retry = now + 1;
			next_rescan = now + d.conf->daemon.rescan_interval;
		} else if (d.conf->daemon.retry_failed_after > 0 && now >= next_retry) {
			struct scan_ctx c = {&d, SPOOL_FAILED, 0, now};
			spool_scan(d.sp, SPOOL_FAILED, scan_failed_cb, &c);
			/* Often enough for short delays, rarely for long ones. */
			long step = d.conf->daemon.retry_failed_after / 4;
			next_retry = now + (step < 1 ? 1 : step > 60 ? 60 : step);
		}
	}

	logmsg(LOG_NOTICE, "stopping: finishing the attempts in flight");
	pthread_mutex_lock(&d.mu);
	d.stopping = true;
	pthread_cond_broadcast(&d.cv);
	pthread_mutex_unlock(&d.mu);
	for (size_t i = 0; i < d.workers; i++)
		pthread_join(d.threads[i], NULL);
	committer_stop(d.committer); /* after the workers: their last records too */
	logmsg(LOG_NOTICE, "stopped");
	free(ws);
	free(d.threads);
	free(d.jobs);
	for (size_t i = 0; i < SET_SIZE; i++) {
		while (d.set[i]) {
			struct entry *e = d.set[i];
			d.set[i] = e->next;
			free(e);
		}
	}
	close(ifd);
	close(sfd);
	close(d.wakefd);
	spool_close(d.sp);
	conf_free(d.conf);
	free(d.conf);
	return 0;
}
