/* worker: msgspoold's sending threads. Each takes receivers from the job
 * queue, keeps one transport session, tells conns.c how each attempt went
 * and backs everybody off when the server or the spool fails. It must never
 * decide when a receiver may be tried (policy.c) nor how an attempt goes
 * (deliver.c); the shared state and its locks are in daemon.h, the
 * behaviour in msgspoold(8). */
#include "config.h"
#include "daemon.h"
#include "deliver.h"
#include "dlog.h"
#include "policy.h"
#include "ratelimit.h"
#include "status.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static void settle(struct worker *w, bool locked);

/* Waits under mu for a job; false when stopping. Closes an idle
 * connection after idle_close seconds, and at once one that conns.c no
 * longer allows. */
static bool next_job(struct worker *w, struct jobq_job *job)
{
	struct daemon *d = w->d;
	bool may;
	while (!d->stopping && (!(may = conns_may_send(&d->cc, w->n)) || d->q.n == 0 || time(NULL) < d->backoff_until)) {
		if (transport_pending(w->t)) { /* its reply is read before waiting */
			pthread_mutex_unlock(&d->mu);
			settle(w, false);
			pthread_mutex_lock(&d->mu);
			continue;
		}
		if (!may && w->connected) {
			pthread_mutex_unlock(&d->mu);
			transport_idle(w->t);
			w->connected = false;
			pthread_mutex_lock(&d->mu);
			continue;
		}
		if (!may && d->q.n)
			pthread_cond_signal(&d->cv); /* a wake-up meant for a worker allowed to send */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		long wait = !may ? 3600 : d->q.n ? (long)(d->backoff_until - time(NULL)) : (w->connected ? d->idle_close : 3600);
		until.tv_sec += wait > 0 ? wait : 1;
		int rc = pthread_cond_timedwait(may ? &d->cv : &d->spare, &d->mu, &until);
		if (rc == ETIMEDOUT && w->connected && d->q.n == 0) {
			pthread_mutex_unlock(&d->mu);
			transport_idle(w->t);
			w->connected = false;
			pthread_mutex_lock(&d->mu);
			if (d->q.n == 0 && conns_idle(&d->cc))
				dlog(LOG_NOTICE, "connections: back to %ld (idle)", d->cc.allowed);
			if (status_conns(d->cc.allowed))
				evloop_wake(&d->ev);
		}
	}
	if (d->stopping)
		return false;
	jobq_pop(&d->q, job);
	if (d->q.backlog && d->q.n == QUEUE_LOW) {
		d->q.backlog = false;
		d->want_rescan = true;
		evloop_wake(&d->ev);
	}
	return true;
}

/* One attempt under the configuration's read lock, with a transport for
 * the configuration in use; `more`: another receiver waits, so this one's
 * reply may travel with the next one's envelope (deliver.h, hold). */
static enum deliver_result work(struct worker *w, const struct jobq_job *job, struct deliver_report *rep, bool more)
{
	struct daemon *d = w->d;
	pthread_rwlock_rdlock(&d->conf_lock);
	if (!w->t || w->gen != d->conf_gen) {
		char err[512] = "";
		settle(w, true);
		transport_free(w->t);
		w->t = transport_open(d->conf, err, sizeof err);
		w->gen = d->conf_gen;
		w->connected = false;
		if (!w->t)
			dlog(LOG_ERR, "worker %zu: %s", w->n, err);
	}
	memset(rep, 0, sizeof *rep);
	enum deliver_result r = DELIVER_DEFERRED;
	if (w->t) {
		struct deliver dl = {d->sp, d->conf, w->t, dlog_fn, NULL, d->committer, more && !d->conf->smtp.nrates};
		r = deliver_one(&dl, job->from, job->id, job->from == SPOOL_FAILED ? POLICY_RETRY_DUE : POLICY_SEND,
				rep);
		w->connected = true;
	}
	pthread_rwlock_unlock(&d->conf_lock);
	return r;
}

/* Tells conns.c how an attempt that began at t0 went (under mu); logs a
 * change of the connection count and wakes the workers it allows. */
static enum conns_change count_connections(struct daemon *d, enum deliver_result r, bool lost, bool fresh,
					   double t0)
{
	long before = d->cc.allowed;
	double now = conns_now_ms();
	bool delivered = r == DELIVER_SENT || r == DELIVER_FAILED || (r == DELIVER_DEFERRED && !lost);
	enum conns_change ch = conns_after(&d->cc, delivered, lost, fresh, now - t0, d->q.n, now);
	bool counted = status_count(r); /* for msgspool stats, written by on_timer */
	if (status_conns(d->cc.allowed) || counted)
		evloop_wake(&d->ev);
	if (ch == CONNS_GREW) {
		pthread_cond_broadcast(&d->spare);
		dlog(LOG_NOTICE, "connections: %ld -> %ld (%zu waiting, more than the open ones send in a second)",
		     before, d->cc.allowed, d->q.n);
	} else if (ch == CONNS_LIMIT) {
		dlog(LOG_NOTICE, "connections: %ld -> %ld (the server refused one more; growing again in %ld s)",
		     before, d->cc.allowed, d->cc.hold / 1000);
	}
	return ch;
}

/* Reads, records and counts the reply still held on this worker's
 * connection (deliver.h, DELIVER_PENDING) before it waits, stops or is
 * replaced; `locked`: the caller holds the configuration's read lock. */
static void settle(struct worker *w, bool locked)
{
	struct daemon *d = w->d;
	struct deliver_report rep;
	if (!transport_pending(w->t))
		return;
	if (!locked)
		pthread_rwlock_rdlock(&d->conf_lock);
	deliver_settle(&(struct deliver){d->sp, d->conf, w->t, dlog_fn, NULL, d->committer, false}, &rep);
	if (!locked)
		pthread_rwlock_unlock(&d->conf_lock);
	pthread_mutex_lock(&d->mu);
	count_connections(d, rep.settled_result, false, false, conns_now_ms() - (double)rep.settled_ms);
	pthread_mutex_unlock(&d->mu);
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct jobq_job job;
	pthread_mutex_lock(&d->mu);
	while (next_job(w, &job)) {
		bool more = d->q.n > 0;
		pthread_mutex_unlock(&d->mu);
		if (ratelimit_take(d->rl) < 0) { /* stopping: the receiver stays where it is */
			pthread_mutex_lock(&d->mu);
			jobq_done(&d->q, job.id);
			break;
		}
		struct deliver_report rep;
		bool fresh = !w->connected;
		double t0 = conns_now_ms();
		enum deliver_result r = work(w, &job, &rep, more);
		pthread_mutex_lock(&d->mu);
		if (rep.settled) /* the one held before, read with this one */
			count_connections(d, rep.settled_result, false, false, conns_now_ms() - (double)rep.settled_ms);
		jobq_done(&d->q, job.id);
		if (rep.stuck)
			jobq_stuck_add(&d->q, job.id, &rep.stuck_st);
		if (r == DELIVER_SKIPPED && rep.not_before && job.from == SPOOL_NEW) {
			/* send_after: the timer wakes for it; no polling. */
			jobq_later_add(&d->q, job.id, rep.not_before);
			evloop_wake(&d->ev);
		}
		bool lost = r == DELIVER_DEFERRED && (rep.session_failed || !w->t);
		if (count_connections(d, r, lost, fresh, t0) == CONNS_LIMIT) {
			/* The others work: only this connection stops. */
			if (jobq_push(&d->q, job.from, job.id))
				pthread_cond_signal(&d->cv);
			w->connected = false;
		} else if (lost || r == DELIVER_IOERR) {
			/* The server is away, or the spool cannot be written (a full
			 * disk, a read-only mount): everybody waits, then this one
			 * goes first. */
			d->backoff = policy_session_backoff(d->backoff);
			d->backoff_until = time(NULL) + d->backoff;
			dlog(LOG_WARNING, "%s; next try in %ld s",
			     r == DELIVER_IOERR ? "spool not writable" : "mail server unusable", d->backoff);
			if (jobq_push(&d->q, job.from, job.id))
				pthread_cond_signal(&d->cv);
			w->connected = r == DELIVER_IOERR && w->connected;
		} else if (r == DELIVER_DEFERRED) {
			/* Still being written: another look in a second, not at
			 * once (our own rename back into new/ rings inotify). */
			jobq_later_add(&d->q, job.id, time(NULL) + 1);
			evloop_wake(&d->ev);
		} else if (r == DELIVER_SENT || r == DELIVER_FAILED || r == DELIVER_ERROR) {
			d->backoff = 0;
		}
	}
	pthread_mutex_unlock(&d->mu);
	settle(w, false);
	transport_free(w->t);
	return NULL;
}
