/* cmd_owner: the spool belongs to one user (daemon.user); root's commands act
 * as that user. */
#ifndef MSGSPOOL_CMD_OWNER_H
#define MSGSPOOL_CMD_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "cli.h"

/* init: creates the tree and, run as root, gives it to `owner` (NULL:
 * daemon.user) with `group` for producers. A sysexits code, 0 on success. */
int owner_init(struct cli *c, const char *owner, gid_t group);
/* Run as root: becomes the spool's owner (its groups, group and user) for
 * good; nothing when not root or the spool is root's. A sysexits code. */
int owner_become(struct cli *c);
/* Run as root before owner_become: opens a file named on the command line
 * as root, unless its path passes through the spool (what a producer may
 * link there is opened as the owner, later); owner_open_input gives it. */
void owner_preopen(struct cli *c, const char *path);
/* The descriptor of a file named on the command line ("-": standard
 * input): the one root opened, else opened now. -1 and errno. */
int owner_open_input(struct cli *c, const char *path);
/* Run as root before owner_become: reads smtp.password_file, a secret
 * root may keep to itself (a failure is left for the transport to say). */
void owner_read_secrets(struct cli *c);
/* What owner_read_secrets reads, for a program without a cli (msgspool-web):
 * smtp.password_file as conf_read_password checks it, unless its path
 * passes through the spool (a producer may plant a link there). NULL with
 * the reason in err (err "" when the configuration names no password). */
char *owner_read_password(const struct conf *k, char *err, size_t errsz);
/* Who the spool's owner is, for owner_stuck. */
struct owner_id {
	bool known;		/* false: the spool's root could not be looked at (nothing is stuck) */
	uid_t uid;
	gid_t groups[256];
	int ngroups;
};
void owner_id_of_spool(struct cli *c, struct owner_id *o);
/* Whether a receiver of new/ or failed/ (where senders claim from; of any
 * other status false) is stuck: a regular file the spool's owner cannot
 * read, which no sender could ever claim; named on stderr. `s`: its stat
 * when the caller has one (a scan's, query_row's), else NULL: it is
 * looked at. */
bool owner_stuck(struct cli *c, const struct owner_id *o, enum spool_status st, const char *id,
		 const struct stat *s);

#endif
