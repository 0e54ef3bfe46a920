/* deliver: one attempt from claim to durable outcome: claim into active/,
 * read and check, render, send, record the outcome in the file and move it
 * to sent/, failed/ or error/; and recovery of what a crash left in active/.
 * With hold an attempt may end sent to its end with the reply unread
 * (DELIVER_PENDING): the receiver stays claimed until a later attempt or
 * deliver_settle reads the reply and records it. It must never decide when a receiver may be tried or where a failure puts
 * it (policy.c), nor know a path (spool.c) or the wire (transport.c). The
 * rules are in spool-layout/README.md ("Rules", "Status transitions"). */
#include "config.h"
#include "deliver.h"
#include "mime.h"
#include "msgid.h"
#include "receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

const char *deliver_result_name(enum deliver_result r)
{
	static const char *const names[] = {"sent", "failed", "error", "busy", "skipped", "quarantined",
					    "deferred", "spool-error", "pending"};
	return names[r];
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Puts a claimed receiver into `to` unchanged; when it cannot be moved the
 * claim is given up where it is (active/, unlocked, for recovery). */
static int release(struct spool *sp, struct spool_claim *c, enum spool_status to)
{
	if (spool_release(sp, c, to) == 0)
		return 0;
	int e = errno;
	spool_claim_drop(c);
	errno = e;
	return -1;
}

static enum deliver_result quarantine(struct deliver *d, struct spool_claim *c, const char *why)
{
	char path[4200];
	spool_path(d->sp, c->from, c->id, path, sizeof path);
	if (release(d->sp, c, SPOOL_CORRUPT) < 0) {
		d->log(d->log_ctx, LOG_ERR, "%s: cannot quarantine into corrupt/: %s (left in active/)", path, strerror(errno));
		return DELIVER_IOERR;
	}
	d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path, why);
	return DELIVER_QUARANTINED;
}

/* Writes the outcome durably and moves the receiver to `to`. */
static enum deliver_result commit(struct deliver *d, struct spool_claim *c, struct receiver *r,
				  const struct util_buf *src, enum spool_status to, enum deliver_result ok)
{
	struct util_buf out = {0};
	int rc = receiver_save_appended(r, src->data, src->len, &out);
	if (rc == 0)
		rc = spool_commit(d->sp, c, out.data, out.len, to);
	int e = errno;
	util_buf_free(&out);
	if (rc == 0)
		return ok;
	committer_record_failed(d->sp, d->log, d->log_ctx, c, to, deliver_result_name(ok), e);
	return DELIVER_IOERR;
}

/* Records a sent receiver: through the committer when there is one (it
 * logs the line once durable; *later tells), else here. */
static enum deliver_result record_sent(struct deliver *d, struct spool_claim *c, struct receiver *r,
				       const struct util_buf *src, int code, long ms, bool *later)
{
	*later = false;
	if (d->cm) {
		struct util_buf out = {0};
		if (receiver_save_appended(r, src->data, src->len, &out) == 0 &&
		    committer_submit(d->cm, c, &out, r->send_to, code, ms) == 0) {
			*later = true;
			return DELIVER_SENT;
		}
		util_buf_free(&out);
	}
	enum deliver_result res = commit(d, c, r, src, SPOOL_SENT, DELIVER_SENT);
	if (d->cm && res == DELIVER_SENT)
		committer_recovered(d->cm);
	return res;
}

/* Records a failed attempt where the policy puts it; force_error for what
 * retrying cannot fix. */
static enum deliver_result failure(struct deliver *d, struct spool_claim *c, struct receiver *r,
				   const struct util_buf *src, const char *error, int code,
				   const char *transcript, bool force_error)
{
	struct policy_decision pd = policy_decide(d->conf, r, POLICY_SEND, time(NULL));
	bool to_error = pd.on_failure == SPOOL_ERROR || force_error;
	receiver_record_failure(r, time(NULL), error, code, transcript, to_error ? "error" : "failed");
	return commit(d, c, r, src, to_error ? SPOOL_ERROR : SPOOL_FAILED, to_error ? DELIVER_ERROR : DELIVER_FAILED);
}

/* Modified in the last 2 s: a producer writing in place may not be done.
 * A time in the future counts as old, so that it cannot defer a file
 * forever (claim() says so in the log). */
static bool young(const struct spool_claim *c)
{
	time_t now = time(NULL);
	return c->st.st_mtime <= now && now - c->st.st_mtime < 2;
}

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" : S_ISFIFO(m) ? "a FIFO"
	     : S_ISLNK(m) ? "a symbolic link" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a file";
}

/* An entry that cannot be claimed for what it is (unreadable for us, not
 * a regular file): quarantined at once with the reason. It is never a
 * reason for every receiver to back off; when even the move is refused
 * (a directory someone else owns), rep->stuck tells the caller. */
static int refuse(struct deliver *d, enum spool_status from, const char *id, const char *path, int e,
		  struct deliver_report *rep)
{
	struct stat st;
	char why[300];
	bool known = spool_stat(d->sp, from, id, &st) == 0;
	if (e == EACCES || e == EPERM)
		snprintf(why, sizeof why, "cannot be opened (%s; owner uid %ld, mode %04o)", strerror(e),
			 known ? (long)st.st_uid : -1L, known ? (unsigned)(st.st_mode & 07777) : 0u);
	else if (e == ELOOP)
		snprintf(why, sizeof why, "%s", util_file_reason(e));
	else
		snprintf(why, sizeof why, "not a regular file (%s)", known ? file_kind(st.st_mode) : "gone");
	if (spool_move(d->sp, from, SPOOL_CORRUPT, id) == 0) {
		d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path, why);
		return DELIVER_QUARANTINED;
	}
	d->log(d->log_ctx, LOG_ERR, "%s: %s, and cannot be moved into corrupt/: %s; left where it is, never sent",
	       path, why, strerror(errno));
	rep->stuck = known;
	if (known)
		rep->stuck_st = st;
	return DELIVER_SKIPPED;
}

/* Claims from/ID and checks what a producer may have got wrong with the
 * file itself. 0 with the claim held, else the attempt's result. */
static int claim(struct deliver *d, enum spool_status from, const char *id, struct spool_claim *c,
		 struct deliver_report *rep)
{
	char path[4200];
	spool_path(d->sp, from, id, path, sizeof path);
	int rc = spool_claim(d->sp, from, id, c);
	if (rc == SPOOL_CLAIMED)
		util_test_stop("deliver-claimed");
	if (rc == SPOOL_BUSY)
		return DELIVER_BUSY;
	if (rc < 0) {
		int e = errno;
		if (e == ELOOP || e == EINVAL || e == ENXIO || e == EACCES || e == EPERM)
			return refuse(d, from, id, path, e, rep);
		d->log(d->log_ctx, LOG_ERR, "%s: cannot claim: %s", path, strerror(e));
		return DELIVER_IOERR;
	}
	/* A second name means someone else holds this inode: a hard link to a
	 * file we must not send (a link+unlink rename on NFS shows two for a
	 * moment, so a young file gets another look). */
	if (c->st.st_mtime > time(NULL) + 5) {
		char t[UTIL_TIME_LEN];
		util_time_format(c->st.st_mtime, t);
		d->log(d->log_ctx, LOG_WARNING, "%s: modified in the future (%s); treated as old", path, t);
	}
	if (from == SPOOL_NEW && c->st.st_nlink > 1) {
		if (young(c) && spool_release(d->sp, c, from) == 0)
			return DELIVER_DEFERRED;
		/* Not young, a second name in tmp/ is what a power cut leaves of
		 * a write and rename (the producer's, compose's, or our own swap
		 * into the pool), not a link to something else, nor a producer's
		 * link-then-unlink under way: it goes, and the receiver with it. */
		if (spool_claim_unlink_tmp_names(d->sp, c) > 0)
			d->log(d->log_ctx, LOG_NOTICE, "%s: a second name in tmp/ (a write cut short) removed", path);
		if (c->st.st_nlink > 1)
			return quarantine(d, c, "has other hard links (never sent)");
	}
	/* A producer may have reused a name that is taken elsewhere. */
	for (int s = 0; from == SPOOL_NEW && s < SPOOL_NSTATUS; s++) {
		if (s == SPOOL_NEW || s == SPOOL_ACTIVE || !spool_exists(d->sp, (enum spool_status)s, id))
			continue;
		char why[256];
		snprintf(why, sizeof why, "the id is already used by %s/%s.yaml", spool_status_dir((enum spool_status)s), id);
		return quarantine(d, c, why);
	}
	return 0;
}

/* Puts a file that is still being written back into new/ for another look. */
static int not_yet(struct deliver *d, struct spool_claim *c, const char *path, const char *why)
{
	if (spool_release(d->sp, c, c->from) == 0) {
		d->log(d->log_ctx, LOG_NOTICE, "%s: %s; another look later", path, why);
		return DELIVER_DEFERRED;
	}
	d->log(d->log_ctx, LOG_ERR, "%s: cannot put back into new/: %s (left in active/ for recovery)", path,
	       strerror(errno));
	spool_claim_drop(c);
	return DELIVER_IOERR;
}

/* Reads and parses the claimed file. 0 when it may go on, else the result.
 * A file of new/ counts only when nobody is still writing it (a file
 * written in place, whose first half may parse); one that nobody writes
 * and does not parse is quarantined at once, however young. */
static int load(struct deliver *d, struct spool_claim *c, struct receiver *r, struct util_buf *src,
		char *err, size_t errsz)
{
	char path[4200];
	spool_path(d->sp, c->from, c->id, path, sizeof path);
	int rc = receiver_load_claim(r, c, d->conf->max_receiver_size, path, src, err, errsz);
	int e = errno;
	if (rc < 0 && e == EFBIG)
		return quarantine(d, c, "larger than max_receiver_size");
	if (rc < 0 && e != EINVAL) {
		d->log(d->log_ctx, LOG_ERR, "%s: cannot read: %s", path, strerror(e));
		release(d->sp, c, c->from);
		return DELIVER_IOERR;
	}
	int settled = c->from == SPOOL_NEW ? spool_claim_settled(c, young(c)) : 1;
	if (settled == 1)
		return rc == 0 ? 0 : quarantine(d, c, err);
	if (rc == 0) {
		receiver_free(r);
		util_buf_free(src);
	}
	return not_yet(d, c, path, settled == 0 ? "still being written" : strerror(errno));
}

/* Records what the transport said of one sent receiver. */
static enum deliver_result outcome(struct deliver *d, struct spool_claim *c, struct receiver *r,
				   const struct util_buf *src, struct transport_result *res,
				   const struct timespec *t0, struct deliver_report *rep, char *err, size_t errsz,
				   bool *later)
{
	enum deliver_result result;
	rep->code = res->code;
	rep->session_failed = res->session_failed;
	if (res->outcome == TRANSPORT_SENT) {
		util_test_stop("deliver-after-250");
		receiver_record_success(r, time(NULL));
		result = record_sent(d, c, r, src, res->code, ms_since(t0), later);
	} else if (res->session_failed) {
		result = DELIVER_DEFERRED;
		if (release(d->sp, c, c->from) < 0) {
			d->log(d->log_ctx, LOG_ERR, "%s: cannot put back into %s/: %s (left in active/ for recovery)",
			       c->id, spool_status_dir(c->from), strerror(errno));
			result = DELIVER_IOERR;
		}
	} else {
		result = failure(d, c, r, src, res->error, res->code, util_buf_cstr(&res->transcript),
				 res->outcome == TRANSPORT_PERM && (d->conf->permanent_to_error || res->to_error));
	}
	if (res->error[0])
		snprintf(err, errsz, "%s", res->error);
	return result;
}

/* A receiver sent to its end whose reply travels with the next one's
 * envelope (TRANSPORT_PENDING): what attempt() holds until it is read.
 * res first: the transport hands back a pointer to it. */
struct held {
	struct transport_result res;
	struct spool_claim c;
	struct receiver r;
	struct util_buf src;
	struct timespec t0;
	/* From when the connection was its own (the one before it answered):
	 * its share of the connection, for conns.c, ends when it is read. */
	struct timespec since;
};

static void log_outcome(struct deliver *d, const char *id, const struct receiver *r,
			const struct deliver_report *rep, const char *err);

/* Records a held receiver whose reply the transport has read, logs it,
 * and tells rep (settled, settled_result, settled_ms). */
static void finish_held(struct deliver *d, struct transport_result *res, struct deliver_report *rep)
{
	struct held *h = (struct held *)res;
	struct deliver_report own = {0};
	char err[RECEIVER_ERRLEN] = "";
	bool later = false;
	own.result = outcome(d, &h->c, &h->r, &h->src, res, &h->t0, &own, err, sizeof err, &later);
	own.ms = ms_since(&h->t0);
	if (!later)
		log_outcome(d, h->c.id, &h->r, &own, err);
	rep->settled = true;
	rep->settled_result = own.result;
	rep->settled_ms = ms_since(&h->since);
	transport_result_free(res);
	util_buf_free(&h->src);
	receiver_free(&h->r);
	free(h);
}

void deliver_settle(struct deliver *d, struct deliver_report *rep)
{
	memset(rep, 0, sizeof *rep);
	struct transport_result *res = transport_settle(d->t);
	if (res)
		finish_held(d, res, rep);
}

static struct mime_options options(const struct deliver *d)
{
	return (struct mime_options){d->conf->from, d->conf->subject_prefix, d->conf->message_id_domain, true};
}

int deliver_pin_message_id(struct deliver *d, struct receiver *r)
{
	const char *rec = ydoc_get_str(r->doc, "message_id");
	if ((rec && mime_msgid_valid(rec)) || msgid_key_make(d->sp) == 0)
		return 0;
	struct mime_options mo = options(d);
	struct util_buf msg = {0};
	struct mime_envelope env;
	char err[RECEIVER_ERRLEN];
	int rc = mime_render_bits(r, &mo, NULL, time(NULL), &msg, &env, err, sizeof err);
	util_buf_free(&msg);
	if (rc < 0)
		return -1;
	receiver_set(r, "message_id", env.message_id);
	return 1;
}

/* Renders, sends and records one loaded receiver; with d->hold it may be
 * held (DELIVER_PENDING: c, r and src move into the hold).
 * Parts go 8bit where the session's server offers 8BITMIME (RFC 6152),
 * which is known only after its EHLO, and a send on a new connection
 * makes that EHLO (the first message after a start or a SIGHUP): so the
 * transport is handed the 8bit rendering; when its session does not offer
 * 8BITMIME it refuses that before MAIL (transport_result's want_7bit), and
 * the 7-bit rendering goes at once on the same connection, within this
 * attempt (a server without 8BITMIME costs a second rendering of a
 * message with 8-bit text). */
static enum deliver_result attempt(struct deliver *d, struct spool_claim *c, struct receiver *r,
				   const struct util_buf *src, const struct timespec *t0,
				   struct deliver_report *rep, char *err, size_t errsz, bool *later)
{
	struct mime_options mo = options(d);
	struct util_buf msg = {0};
	struct mime_envelope env;
	char bits[MSGID_BITS_LEN + 1];
	const char *use_bits = NULL;
	*later = false;
	const char *rec = ydoc_get_str(r->doc, "message_id");
	if (!rec || !mime_msgid_valid(rec)) {
		/* A file written without one: bits of this file, the same again
		 * after a crash before the record (msgid.h); without the key,
		 * drawn (mime_render_bits) and recorded with the outcome. */
		static bool warned;
		int k = msgid_derive(d->sp, c->fd, src->data ? src->data : "", src->len, bits);
		if (k == 0)
			use_bits = bits;
		else if (!warned) {
			warned = true;
			d->log(d->log_ctx, LOG_WARNING, "%s/.message-id-key: %s; Message-IDs of files written without "
			       "message_id get random bits here, recorded with the attempt's outcome (a duplicate after "
			       "a crash before that record gets others)", spool_root(d->sp), k < 0 ? "cannot examine a "
			       "receiver's file" : "missing, not readable by this user (only the spool's owner may), or "
			       "not the owner's alone");
		}
	}
	if (mime_render_bits(r, &mo, use_bits, time(NULL), &msg, &env, err, errsz) < 0) {
		/* Sending again cannot help a message that cannot be built. */
		char line[600];
		snprintf(line, sizeof line, "not sent: %s", err);
		return failure(d, c, r, src, line, 0, line, true);
	}
	if (!ydoc_get(r->doc, "message_id")) /* kept for retries and duplicates */
		receiver_set(r, "message_id", env.message_id);
	struct held *h = util_xmalloc(sizeof *h);
	*h = (struct held){0};
	enum transport_outcome out = transport_send(d->t, env.from, env.to, msg.data, msg.len, &h->res, d->hold);
	if (env.eightbit && out == TRANSPORT_TEMP && h->res.want_7bit) {
		/* This session offers no 8BITMIME: the same message in 7 bits. */
		mo.eightbit = false;
		msg.len = 0;
		if (mime_render_bits(r, &mo, use_bits, time(NULL), &msg, &env, err, errsz) == 0)
			out = transport_send(d->t, env.from, env.to, msg.data, msg.len, &h->res, d->hold);
	}
	util_buf_free(&msg);
	struct transport_result *before = transport_settled(d->t);
	if (before)
		finish_held(d, before, rep);
	if (out == TRANSPORT_PENDING) {
		h->c = *c;
		h->r = *r;
		h->src = *src;
		h->t0 = *t0;
		h->since = *t0;
		if (before)
			clock_gettime(CLOCK_MONOTONIC, &h->since);
		return DELIVER_PENDING;
	}
	enum deliver_result result = outcome(d, c, r, src, &h->res, t0, rep, err, errsz, later);
	transport_result_free(&h->res);
	free(h);
	return result;
}

bool deliver_unsent(enum deliver_result r, const struct deliver_report *rep)
{
	return r == DELIVER_BUSY || r == DELIVER_SKIPPED || r == DELIVER_QUARANTINED ||
	       (r == DELIVER_DEFERRED && rep->unsent);
}

enum deliver_result deliver_one(struct deliver *d, enum spool_status from, const char *id,
				enum policy_mode mode, struct deliver_report *rep)
{
	struct spool_claim c;
	struct timespec t0;
	char err[RECEIVER_ERRLEN] = "";
	memset(rep, 0, sizeof *rep);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	int rc = claim(d, from, id, &c, rep);
	if (rc) {
		rep->unsent = rc == DELIVER_DEFERRED;
		return rep->result = (enum deliver_result)rc;
	}
	struct util_buf src;
	struct receiver r;
	if ((rc = load(d, &c, &r, &src, err, sizeof err)) != 0) {
		rep->unsent = rc == DELIVER_DEFERRED;
		return rep->result = (enum deliver_result)rc;
	}
	struct policy_decision pd = policy_decide(d->conf, &r, mode, time(NULL));
	if (pd.verdict == POLICY_LATER || pd.verdict == POLICY_NEVER) {
		receiver_free(&r);
		util_buf_free(&src);
		release(d->sp, &c, from);
		rep->not_before = pd.verdict == POLICY_LATER ? pd.not_before : 0;
		if (rep->not_before && r.send_after == rep->not_before) {
			char t[UTIL_TIME_LEN];
			util_time_format(r.send_after, t);
			d->log(d->log_ctx, LOG_INFO, "%s: send_after %s: waits in %s/", id, t, spool_status_dir(from));
		}
		return rep->result = DELIVER_SKIPPED;
	}
	bool later = false;
	enum deliver_result result;
	if (pd.verdict == POLICY_EXPIRED) {
		char t[UTIL_TIME_LEN];
		util_time_format(r.expires_at, t);
		snprintf(err, sizeof err, "expired at %s", t);
		result = failure(d, &c, &r, &src, err, 0, "", true);
	} else {
		result = attempt(d, &c, &r, &src, &t0, rep, err, sizeof err, &later);
	}
	rep->ms = ms_since(&t0);
	rep->result = result;
	if (result == DELIVER_PENDING) /* held: logged and freed when its reply is read */
		return result;
	if (!later)
		log_outcome(d, id, &r, rep, err);
	util_buf_free(&src);
	receiver_free(&r);
	return result;
}

static void log_outcome(struct deliver *d, const char *id, const struct receiver *r,
			const struct deliver_report *rep, const char *err)
{
	enum deliver_result result = rep->result;
	d->log(d->log_ctx, result == DELIVER_SENT ? LOG_INFO : result == DELIVER_DEFERRED ? LOG_WARNING : LOG_NOTICE,
	       "%s to=<%s> outcome=%s code=%d ms=%ld%s%s", id, r->send_to, deliver_result_name(result),
	       rep->code, rep->ms, result == DELIVER_SENT ? "" : " error=", result == DELIVER_SENT ? "" : err);
}

/* Where a receiver found in active/ goes: where its last outcome says. */
static enum spool_status recover_to(struct deliver *d, struct spool_claim *c)
{
	char err[RECEIVER_ERRLEN];
	struct util_buf src;
	struct receiver rec;
	enum spool_status to = SPOOL_NEW;
	if (receiver_load_claim(&rec, c, d->conf->max_receiver_size, c->id, &src, err, sizeof err) < 0)
		return to;
	if (rec.last_outcome && !strcmp(rec.last_outcome, "sent"))
		to = SPOOL_SENT;
	else if (rec.last_outcome && !strcmp(rec.last_outcome, "failed"))
		to = SPOOL_FAILED;
	else if (rec.last_outcome && !strcmp(rec.last_outcome, "error"))
		to = SPOOL_ERROR;
	receiver_free(&rec);
	util_buf_free(&src);
	return to;
}

struct recover_ctx {
	struct deliver *d;
	int moved;
	int failed;
};

static int recover_cb(const char *id, void *vctx)
{
	struct recover_ctx *rc = vctx;
	struct deliver *d = rc->d;
	struct spool_claim c;
	int r = spool_claim(d->sp, SPOOL_ACTIVE, id, &c);
	if (r == SPOOL_BUSY)
		return 0; /* a live sender holds it */
	if (r < 0) {
		if (errno == ELOOP || errno == EINVAL)
			spool_move(d->sp, SPOOL_ACTIVE, SPOOL_CORRUPT, id);
		return 0;
	}
	enum spool_status to = recover_to(d, &c);
	if (release(d->sp, &c, to) < 0) {
		d->log(d->log_ctx, LOG_ERR, "active/%s.yaml: recovery cannot move it to %s/: %s", id,
		       spool_status_dir(to), strerror(errno));
		rc->failed++;
		return 0;
	}
	d->log(d->log_ctx, LOG_NOTICE, "active/%s.yaml: recovered into %s/", id, spool_status_dir(to));
	rc->moved++;
	return 0;
}

int deliver_recover(struct deliver *d)
{
	struct recover_ctx rc = {.d = d};
	/* A sender that died inside a claim's window left its rename
	 * unflushed, and nobody fences the source for it any more. */
	if (spool_sync(d->sp, SPOOL_ACTIVE) < 0)
		return -1;
	if (spool_scan(d->sp, SPOOL_ACTIVE, recover_cb, &rc) < 0)
		return -1;
	return rc.failed ? -1 : rc.moved;
}
