/* spool_owner: giving the tree to its owner (msgspool init run as root),
 * and root becoming that owner (every other command, msgspool-web).
 * Part of the spool module, the only one that knows paths. It must never
 * follow a link, never change a file through a name it has not checked,
 * and never touch a producer's file. The rules are in spool-layout/README.md
 * ("The owner"). */
#include "config.h"
#include "spool.h"
#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

/* Gives one directory, and the files root left in it, to uid. Only plain
 * files with one link, checked and changed through one descriptor: a
 * producer's hard link to a file elsewhere, or a name swapped meanwhile,
 * must not hand that file over. */
static int chown_dir(int dfd, uid_t uid, gid_t gid)
{
	if (fchown(dfd, uid, gid) < 0)
		return -1;
	int fd = dup(dfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		if (fstatat(dfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(s.st_mode) || s.st_uid != 0)
			continue;
		int ffd = spool_open_regular(dfd, de->d_name, &s);
		if (ffd < 0)
			continue;
		if (s.st_uid == 0 && s.st_nlink == 1 && fchown(ffd, uid, (gid_t)-1) < 0)
			rc = -1;
		close(ffd);
	}
	closedir(d);
	return rc;
}

int spool_become_owner(const char *root)
{
	struct stat st;
	if (geteuid() != 0 || stat(root, &st) < 0 || st.st_uid == 0)
		return 0; /* not root, no spool yet (the caller says so), or root's own */
	struct passwd *pw = getpwuid(st.st_uid);
	gid_t gid = pw ? pw->pw_gid : st.st_gid;
	int rc = pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL);
	if (rc == 0)
		rc = setgid(gid);
	if (rc == 0)
		rc = setuid(st.st_uid);
	if (rc == 0 && setuid(0) == 0) {
		errno = EPERM; /* root regained: not given up for good */
		rc = -1;
	}
	return rc;
}

int spool_chown_tree(const char *root, uid_t uid, gid_t gid)
{
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	int rc = chown_dir(rootfd, uid, gid);
	for (int i = -2; rc == 0 && i < SPOOL_NSTATUS; i++) {
		const char *name = i == -2 ? "tmp" : i == -1 ? "messages" : spool_status_dir((enum spool_status)i);
		int fd = spool_openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0 || chown_dir(fd, uid, gid) < 0)
			rc = -1;
		if (fd >= 0)
			close(fd);
	}
	int e = errno;
	close(rootfd);
	errno = e;
	return rc;
}
