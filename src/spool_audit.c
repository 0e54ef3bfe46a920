/* spool_audit: SPOOL/audit, the append-only record of what a person did by
 * hand to receivers: the web admin's deletes (a deleted file cannot carry
 * its own record), holds, releases and resends, one line each. Written only
 * by the spool's owner, with O_APPEND and one write(2) a line, fsynced;
 * never through a link and never into anything but a regular, single-link
 * file of the spool root's owner. It must never rewrite or shorten the
 * file. Format: spool-layout/README.md ("The audit file"). */
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

int spool_audit(struct spool *sp, const char *action, const char *id, enum spool_status from, const char *by,
		const char *via, time_t at)
{
	char when[UTIL_TIME_LEN], who[128], how[32], line[512];
	struct stat st, root;
	util_time_format(at, when);
	field(who, sizeof who, by);
	field(how, sizeof how, via);
	int n = snprintf(line, sizeof line, "%s %s %s %s/ %s %s\n", when, action, id, spool_status_dir(from), who, how);
	if (n < 0 || (size_t)n >= sizeof line) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = spool_openat(sp->rootfd, AUDIT_NAME, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			      0640);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (fstat(fd, &st) < 0 || fstat(sp->rootfd, &root) < 0)
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != root.st_uid) {
		errno = EPERM; /* not the owner's plain file: never written */
		goto out;
	}
	ssize_t w = write(fd, line, (size_t)n);
	if (w != n) {
		if (w >= 0)
			errno = EIO;
		goto out;
	}
	rc = fdatasync(fd);
out:
	close(fd);
	return rc;
}
