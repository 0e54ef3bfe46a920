/* cmd_owner: one owner for the spool, daemon.user. init run as root gives the
 * tree to it (--owner overrides); every other command started as root
 * becomes the spool's owner before it touches the spool, so nothing root
 * writes is left where the daemon cannot claim it (the files its command
 * line names and the SMTP password are opened first, as root, unless
 * their path passes through the spool); stats counts the
 * receivers the owner cannot read (stuck) and names each. It never
 * changes a producer's file and never gives up root partly (all of the
 * groups, the group and the user, or an error). The rules are in
 * spool-layout/README.md ("The owner") and msgspool(1). */
#include "config.h"
#include "cmd_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* The owner init gives the spool to: --owner, else daemon.user, else
 * whoever runs it. Only root may name another user. */
static int owner_pick(struct cli *c, const char *name, uid_t *uid, gid_t *gid)
{
	*uid = geteuid();
	*gid = getegid();
	if (!name && geteuid() == 0)
		name = c->conf.daemon.user;
	if (!name)
		return 0;
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		cli_err("%s: no such user (%s)", name, name == c->conf.daemon.user ? "daemon.user" : "--owner");
		return EX_NOUSER;
	}
	if (geteuid() != 0 && pw->pw_uid != geteuid()) {
		cli_err("only root can give the spool to %s", name);
		return EX_NOPERM;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int owner_init(struct cli *c, const char *owner, gid_t group)
{
	uid_t uid;
	gid_t gid;
	int rc = owner_pick(c, owner, &uid, &gid);
	if (rc)
		return rc;
	if (spool_init(c->conf.spool, group) < 0) {
		cli_err("%s: cannot create spool: %s", c->conf.spool, strerror(errno));
		return EX_CANTCREAT;
	}
	if (geteuid() != 0)
		return 0;
	if (uid == 0 && !owner && !c->conf.daemon.user)
		cli_warn("%s is root's: msgspoold runs as daemon.user; set it, or give --owner USER", c->conf.spool);
	if (spool_chown_tree(c->conf.spool, uid, group == (gid_t)-1 ? gid : (gid_t)-1) < 0) {
		cli_err("%s: cannot give the spool to uid %ld: %s", c->conf.spool, (long)uid, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

int owner_become(struct cli *c)
{
	struct stat st;
	if (spool_become_owner(c->conf.spool) < 0) {
		int e = errno;
		cli_err("%s: cannot become its owner (uid %ld): %s", c->conf.spool,
			stat(c->conf.spool, &st) == 0 ? (long)st.st_uid : -1L, strerror(e));
		return EX_OSERR;
	}
	return 0;
}

/* Whether resolving `path` walks through the spool's root directory
 * (`root`): every prefix of it, and of each link's target met on the way,
 * is compared with it, as the kernel would walk them. A name of the spool,
 * or a link a producer left in it, must not be opened with root's rights.
 * Unsure (a loop, too long, more than *steps names to look at) counts as
 * inside. */
static bool path_in_spool(const char *path, const char *base, const struct stat *root, int depth, int *steps)
{
	char buf[PATH_MAX];
	size_t lb = path[0] == '/' ? 0 : strlen(base), lp = strlen(path);
	if (depth > 40 || lb + lp + 2 > sizeof buf)
		return true;
	if (lb) {
		memcpy(buf, base, lb);
		buf[lb++] = '/';
	}
	memcpy(buf + lb, path, lp + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char was = *p;
		*p = '\0';
		struct stat st;
		if (--*steps < 0)
			return true; /* links made to fan out: unsure */
		if (lstat(buf, &st) < 0) {
			*p = was;
			return false; /* the open fails or meets no more of ours */
		}
		if (S_ISDIR(st.st_mode) && st.st_dev == root->st_dev && st.st_ino == root->st_ino)
			return true;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(buf, target, sizeof target - 1);
			char *slash = strrchr(buf, '/');
			if (n < 0)
				return true;
			target[n] = '\0';
			*slash = '\0';
			bool in = path_in_spool(target, slash == buf ? "/" : buf, root, depth + 1, steps);
			*slash = '/';
			if (in)
				return true;
		}
		if (!(*p = was))
			return false;
	}
}

void owner_preopen(struct cli *c, const char *path)
{
	struct stat root;
	char cwd[PATH_MAX];
	if (c->ninputs == (int)(sizeof c->inputs / sizeof *c->inputs) || !strcmp(path, "-") || !*path ||
	    stat(c->conf.spool, &root) < 0 || !getcwd(cwd, sizeof cwd) || path_in_spool(path, cwd, &root, 0, &(int){4096}))
		return;
	/* Not blocking on a FIFO; a terminal named here is not ours to keep. */
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* opened again as the owner, who says why */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	c->inputs[c->ninputs++] = (struct cli_input){path, fd};
}

int owner_open_input(struct cli *c, const char *path)
{
	if (!strcmp(path, "-"))
		return dup(0);
	for (int i = 0; i < c->ninputs; i++)
		if (!strcmp(c->inputs[i].path, path))
			return dup(c->inputs[i].fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

char *owner_read_password(const struct conf *k, char *err, size_t errsz)
{
	struct stat root;
	char cwd[PATH_MAX];
	err[0] = '\0';
	if (k->transport != CONF_TRANSPORT_SMTP || !k->smtp.username || !k->smtp.password_file || k->smtp.password)
		return NULL;
	if (stat(k->spool, &root) == 0 && (!getcwd(cwd, sizeof cwd) ||
					   path_in_spool(k->smtp.password_file, cwd, &root, 0, &(int){4096}))) {
		snprintf(err, errsz, "%s: smtp.password_file passes through the spool %s (a name or a link there): "
			 "not read with root's rights; keep it outside the spool", k->smtp.password_file, k->spool);
		return NULL;
	}
	return conf_read_password(k->smtp.password_file, err, errsz);
}

void owner_read_secrets(struct cli *c)
{
	char err[512];
	char *pw = owner_read_password(&c->conf, err, sizeof err);
	if (pw)
		c->conf.smtp.password = pw;
}

static bool owner_can_read(const struct owner_id *o, const struct stat *s)
{
	if (o->uid == 0 || s->st_uid == o->uid)
		return o->uid == 0 || (s->st_mode & S_IRUSR);
	for (int i = 0; i < o->ngroups; i++)
		if (o->groups[i] == s->st_gid)
			return s->st_mode & S_IRGRP;
	return s->st_mode & S_IROTH;
}

void owner_id_of_spool(struct cli *c, struct owner_id *o)
{
	struct stat root;
	memset(o, 0, sizeof *o);
	if (spool_stat_root(c->sp, &root) < 0)
		return;
	o->known = true;
	o->uid = root.st_uid;
	struct passwd *pw = getpwuid(root.st_uid);
	o->ngroups = sizeof o->groups / sizeof *o->groups;
	if (!pw || getgrouplist(pw->pw_name, pw->pw_gid, o->groups, &o->ngroups) < 0) {
		o->groups[0] = pw ? pw->pw_gid : root.st_gid;
		o->ngroups = 1;
	}
}

bool owner_stuck(struct cli *c, const struct owner_id *o, enum spool_status st, const char *id,
		 const struct stat *s)
{
	struct stat own;
	/* Where a sender claims from: a file there it cannot read waits forever. */
	if (!o->known || (st != SPOOL_NEW && st != SPOOL_FAILED))
		return false;
	if (!s) { /* the caller has none: looked at here */
		if (spool_stat(c->sp, st, id, &own) < 0)
			return false;
		s = &own;
	}
	if (!S_ISREG(s->st_mode) || owner_can_read(o, s))
		return false;
	struct passwd *pw = getpwuid(s->st_uid);
	cli_warn("%s/%s.yaml: stuck: owned by %s (uid %ld), mode %04o: the spool's owner cannot read it; "
		 "run 'msgspool init' as root to give it back", spool_status_dir(st), id, pw ? pw->pw_name : "?",
		 (long)s->st_uid, (unsigned)(s->st_mode & 07777));
	return true;
}
