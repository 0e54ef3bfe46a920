/* deliver: one attempt from claim to durable outcome. */
#include "config.h"
#include "deliver.h"
#include "mime.h"
#include "receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

const char *deliver_result_name(enum deliver_result r)
{
	static const char *const names[] = {"sent", "failed", "error", "busy", "skipped", "quarantined",
					    "deferred", "spool-error"};
	return names[r];
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static enum deliver_result quarantine(struct deliver *d, struct spool_claim *c, const char *why)
{
	char path[4200];
	spool_path(d->sp, c->from, c->id, path, sizeof path);
	if (spool_release(d->sp, c, SPOOL_CORRUPT) < 0) {
		d->log(d->log_ctx, LOG_ERR, "%s: cannot quarantine into corrupt/: %s (left in active/)", path, strerror(errno));
		return DELIVER_IOERR;
	}
	d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path, why);
	return DELIVER_QUARANTINED;
}

/* Writes the outcome; on failure puts the receiver back where it came from
 * unchanged, so it is never lost (at worst sent again). */
static enum deliver_result commit(struct deliver *d, struct spool_claim *c, struct receiver *r,
				  enum spool_status to, enum deliver_result ok)
{
	struct util_buf out = {0};
	char path[4200];
	spool_path(d->sp, to, c->id, path, sizeof path);
	if (receiver_save(r, &out) == 0 && spool_commit(d->sp, c, out.data, out.len, to) == 0) {
		util_buf_free(&out);
		return ok;
	}
	int e = errno;
	util_buf_free(&out);
	/* The server has it: sent/ unchanged (a rename needs no space) beats a
	 * second copy. Anything else goes back unchanged, not counted. */
	enum spool_status back = ok == DELIVER_SENT ? SPOOL_SENT : c->from;
	d->log(d->log_ctx, LOG_ERR, "%s: cannot record the outcome (%s): %s; moving it to %s/ unchanged", path,
	       deliver_result_name(ok), strerror(e), spool_status_dir(back));
	if (c->fd >= 0 && spool_release(d->sp, c, back) < 0)
		d->log(d->log_ctx, LOG_ERR, "%s: left in active/ for recovery: %s", c->id, strerror(errno));
	return DELIVER_IOERR;
}

/* Records a failed attempt. Devilry's rule: failed/ while the count stays
 * within the limit, else error/; force_error for what retrying cannot fix. */
static enum deliver_result failure(struct deliver *d, struct spool_claim *c, struct receiver *r,
				   const char *error, int code, const char *transcript, bool force_error)
{
	bool to_error = r->failed_count + 1 > d->conf->resend_limit || force_error;
	receiver_record_failure(r, time(NULL), error, code, transcript, to_error ? "error" : "failed");
	return commit(d, c, r, to_error ? SPOOL_ERROR : SPOOL_FAILED, to_error ? DELIVER_ERROR : DELIVER_FAILED);
}

enum deliver_result deliver_one(struct deliver *d, enum spool_status from, const char *id,
				long long max_failed, struct deliver_report *rep)
{
	struct spool_claim c;
	struct timespec t0;
	char path[4200], err[RECEIVER_ERRLEN] = "";
	memset(rep, 0, sizeof *rep);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spool_path(d->sp, from, id, path, sizeof path);

	int rc = spool_claim(d->sp, from, id, &c);
	if (rc == SPOOL_CLAIMED)
		util_test_stop("deliver-claimed");
	if (rc == SPOOL_BUSY)
		return rep->result = DELIVER_BUSY;
	if (rc < 0) {
		int e = errno;
		if ((e == ELOOP || e == EINVAL) && spool_move(d->sp, from, SPOOL_CORRUPT, id) == 0) {
			d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path,
			       e == ELOOP ? "a symbolic link (never followed)" : "not a regular file");
			return rep->result = DELIVER_QUARANTINED;
		}
		d->log(d->log_ctx, LOG_ERR, "%s: cannot claim: %s", path, strerror(e));
		return rep->result = DELIVER_IOERR;
	}
	/* A second name means someone else holds this inode: a hard link to a
	 * file we must not send (a link+unlink rename on NFS shows two for a
	 * moment, so a young file gets another look). */
	if (from == SPOOL_NEW && c.st.st_nlink > 1) {
		if (time(NULL) - c.st.st_mtime < 2 && spool_release(d->sp, &c, from) == 0)
			return rep->result = DELIVER_DEFERRED;
		return rep->result = quarantine(d, &c, "has other hard links (never sent)");
	}
	/* A producer may have reused a name that is taken elsewhere. */
	for (int s = 0; from == SPOOL_NEW && s < SPOOL_NSTATUS; s++) {
		if (s == SPOOL_NEW || s == SPOOL_ACTIVE || !spool_exists(d->sp, (enum spool_status)s, id))
			continue;
		char why[256];
		snprintf(why, sizeof why, "the id is already used by %s/%s.yaml", spool_status_dir((enum spool_status)s), id);
		return rep->result = quarantine(d, &c, why);
	}
	char *data;
	size_t len;
	if (spool_claim_read(&c, d->conf->max_receiver_size, &data, &len) < 0) {
		if (errno == EFBIG)
			return rep->result = quarantine(d, &c, "larger than max_receiver_size");
		d->log(d->log_ctx, LOG_ERR, "%s: cannot read: %s", path, strerror(errno));
		spool_release(d->sp, &c, from);
		return rep->result = DELIVER_IOERR;
	}
	struct receiver r;
	rc = receiver_parse(&r, id, data, len, c.st.st_mtime, path, err, sizeof err);
	free(data);
	if (rc < 0) {
		/* A producer writing straight into new/ may not be done yet: a young
		 * unreadable file gets another look (inotify's IN_CLOSE_WRITE or the
		 * rescan) before it is quarantined. */
		if (from == SPOOL_NEW && time(NULL) - c.st.st_mtime < 2 && spool_release(d->sp, &c, from) == 0)
			return rep->result = DELIVER_DEFERRED;
		return rep->result = quarantine(d, &c, err);
	}
	if (max_failed >= 0 && r.failed_count > max_failed) {
		receiver_free(&r);
		spool_release(d->sp, &c, from);
		return rep->result = DELIVER_SKIPPED;
	}

	struct mime_options mo = {d->conf->from, d->conf->subject_prefix, d->conf->message_id_domain};
	struct util_buf msg = {0};
	struct transport_result res = {0};
	char envfrom[512];
	enum deliver_result result;
	if (mime_render(&r, &mo, time(NULL), &msg, envfrom, sizeof envfrom, err, sizeof err) < 0) {
		/* Sending again cannot help a message that cannot be built. */
		char line[600];
		snprintf(line, sizeof line, "not sent: %s", err);
		result = failure(d, &c, &r, line, 0, line, true);
	} else {
		enum transport_outcome out = transport_send(d->t, envfrom, r.send_to, msg.data, msg.len, &res);
		rep->code = res.code;
		rep->session_failed = res.session_failed;
		const char *transcript = util_buf_cstr(&res.transcript);
		if (out == TRANSPORT_SENT) {
			util_test_stop("deliver-after-250");
			receiver_record_success(&r, time(NULL));
			result = commit(d, &c, &r, SPOOL_SENT, DELIVER_SENT);
		} else if (res.session_failed) {
			result = DELIVER_DEFERRED;
			if (spool_release(d->sp, &c, from) < 0) {
				d->log(d->log_ctx, LOG_ERR, "%s: cannot put back into %s/: %s (left in active/ for recovery)",
				       id, spool_status_dir(from), strerror(errno));
				result = DELIVER_IOERR;
			}
		} else {
			result = failure(d, &c, &r, res.error, res.code, transcript,
					 out == TRANSPORT_PERM && d->conf->permanent_to_error);
		}
	}
	rep->ms = ms_since(&t0);
	rep->result = result;
	d->log(d->log_ctx, result == DELIVER_SENT ? LOG_INFO : result == DELIVER_DEFERRED ? LOG_WARNING : LOG_NOTICE,
	       "%s to=<%s> outcome=%s code=%d ms=%ld%s%s", id, r.send_to, deliver_result_name(result),
	       rep->code, rep->ms, result == DELIVER_SENT ? "" : " error=",
	       result == DELIVER_SENT ? "" : (res.error[0] ? res.error : err));
	transport_result_free(&res);
	util_buf_free(&msg);
	receiver_free(&r);
	return result;
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
	char *data, err[RECEIVER_ERRLEN];
	size_t len;
	int r = spool_claim(d->sp, SPOOL_ACTIVE, id, &c);
	if (r == SPOOL_BUSY)
		return 0; /* a live sender holds it */
	if (r < 0) {
		if (errno == ELOOP || errno == EINVAL)
			spool_move(d->sp, SPOOL_ACTIVE, SPOOL_CORRUPT, id);
		return 0;
	}
	enum spool_status to = SPOOL_NEW;
	struct receiver rec;
	if (spool_claim_read(&c, d->conf->max_receiver_size, &data, &len) == 0) {
		if (receiver_parse(&rec, id, data, len, c.st.st_mtime, id, err, sizeof err) == 0) {
			if (rec.last_outcome && !strcmp(rec.last_outcome, "sent"))
				to = SPOOL_SENT;
			else if (rec.last_outcome && !strcmp(rec.last_outcome, "failed"))
				to = SPOOL_FAILED;
			else if (rec.last_outcome && !strcmp(rec.last_outcome, "error"))
				to = SPOOL_ERROR;
			receiver_free(&rec);
		}
		free(data);
	}
	if (spool_release(d->sp, &c, to) < 0) {
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
	if (spool_scan(d->sp, SPOOL_ACTIVE, recover_cb, &rc) < 0)
		return -1;
	return rc.failed ? -1 : rc.moved;
}
