/* spool_check: what a sender checks on a file it claimed before it sends
 * it: that it is complete (no writer: a read lease, or a second look), and
 * what a power cut left of a write and rename beside it (a second name in
 * tmp/). It must never remove a name outside tmp/, nor one of another
 * inode. Rules: spool-layout/README.md (rules 2 and 3), SECURITY.md. */
#include "config.h"
#include "spool.h"
#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Whether a claimed file is complete: nobody holds it open for writing (a
 * read lease can be taken, and is given back at once), and its size and
 * mtime are still those seen at the claim. Where no lease can be taken
 * (another user's file without CAP_LEASE, a file system without leases),
 * a `young` file is looked at again after 50 ms instead. 1 when settled,
 * 0 when it is being written, -1 with errno on error. The caller ignores
 * SIGIO: a lease broken in the instant it is held must not kill it. */
int spool_claim_settled(struct spool_claim *c, bool young)
{
	struct stat now;
	if (fcntl(c->fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(c->fd, F_SETLEASE, F_UNLCK);
	} else if (errno == EAGAIN) {
		return 0;
	} else if (young) {
		struct timespec pause = {0, 50 * 1000000L};
		nanosleep(&pause, NULL);
	}
	if (fstat(c->fd, &now) < 0)
		return -1;
	return now.st_size == c->st.st_size && now.st_mtim.tv_sec == c->st.st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec;
}

int spool_claim_unlink_tmp_names(struct spool *sp, struct spool_claim *c)
{
	DIR *d = spool_opendir(sp->tmpfd);
	if (!d)
		return -1;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		if (de->d_name[0] != '.' && fstatat(sp->tmpfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(s.st_mode) && spool_same_file(&s, &c->st) && unlinkat(sp->tmpfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	struct stat now;
	if (fstat(c->fd, &now) == 0)
		c->st.st_nlink = now.st_nlink;
	return removed;
}
