/* spool_audit: SPOOL/audit, the append-only record of what a person did by
 * hand to receivers: deletes (a deleted file cannot carry its own record),
 * holds, releases and resends, one line each: the web admin's resend a
 * line, flushed, each (spool_audit); its bulk delete, hold and release and
 * the command line a batch (a line per receiver, one flush at the end, so
 * thousands cost one fdatasync). Written only by the spool's owner, with O_APPEND and one
 * write(2) a line; never through a link and never into anything but a
 * regular, single-link file of the spool root's owner. It must never
 * rewrite or shorten the file. Format: spool-layout/README.md ("The audit
 * file"). */
#include "config.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_NAME "audit"

/* A user name is one field: spaces and control characters become '?'. */
static void field(char *out, size_t n, const char *s)
{
	snprintf(out, n, "%s", s && *s ? s : "-");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			*p = '?';
}

int spool_audit_open(struct spool *sp, struct spool_audit_batch *b)
{
	struct stat st, root;
	b->err = 0;
	b->fd = spool_openat(sp->rootfd, AUDIT_NAME, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			     0640);
	if (b->fd < 0) {
		b->err = errno;
		return -1;
	}
	if (fstat(b->fd, &st) < 0 || fstat(sp->rootfd, &root) < 0)
		b->err = errno;
	else if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != root.st_uid)
		b->err = EPERM; /* not the owner's plain file: never written */
	if (!b->err)
		return 0;
	close(b->fd);
	b->fd = -1;
	errno = b->err;
	return -1;
}

int spool_audit_add(struct spool_audit_batch *b, const char *action, const char *id, const char *dir,
		    const char *by, const char *via, time_t at)
{
	char when[UTIL_TIME_LEN], who[128], how[32], line[512];
	if (b->fd < 0) {
		errno = b->err ? b->err : EBADF;
		return -1;
	}
	util_time_format(at, when);
	field(who, sizeof who, by);
	field(how, sizeof how, via);
	int n = snprintf(line, sizeof line, "%s %s %s %s%s %s %s\n", when, action, id, dir ? dir : "-", dir ? "/" : "",
			 who, how);
	if (n < 0 || (size_t)n >= sizeof line) {
		errno = ENAMETOOLONG;
		b->err = b->err ? b->err : errno;
		return -1;
	}
	ssize_t w = write(b->fd, line, (size_t)n);
	if (w == n)
		return 0;
	if (w >= 0)
		errno = EIO;
	if (!b->err)
		b->err = errno;
	return -1;
}

int spool_audit_close(struct spool_audit_batch *b)
{
	if (b->fd < 0) {
		errno = b->err ? b->err : EBADF;
		return -1;
	}
	int rc = fdatasync(b->fd);
	if (rc < 0)
		b->err = errno;
	close(b->fd);
	b->fd = -1;
	if (rc == 0 && b->err) {
		errno = b->err;
		rc = -1;
	}
	return rc;
}

int spool_audit(struct spool *sp, const char *action, const char *id, enum spool_status from, const char *by,
		const char *via, time_t at)
{
	struct spool_audit_batch b;
	if (spool_audit_open(sp, &b) < 0)
		return -1;
	int rc = spool_audit_add(&b, action, id, spool_status_dir(from), by, via, at);
	int e = errno;
	if (spool_audit_close(&b) < 0)
		return -1;
	errno = e;
	return rc;
}
