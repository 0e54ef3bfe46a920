/* webpasswd: the users of msgspool-web, read from an htpasswd file with
 * bcrypt hashes (htpasswd -B), checked with crypt_r(3). */
#ifndef MSGSPOOL_WEBPASSWD_H
#define MSGSPOOL_WEBPASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct webpasswd_user {
	char *name, *hash;
};

struct webpasswd {
	struct webpasswd_user *u;
	size_t n;
};

/* Loads the file; refuses (-1, err "PATH: reason", errno) one that is
 * missing, not a regular file, readable or writable by others than its
 * owner and group, empty, or has a line that is not user:bcrypt-hash. */
int webpasswd_load(struct webpasswd *pw, const char *path, char *err, size_t errsz);
/* Parses the text of such a file (path only names it in errors). */
int webpasswd_parse(struct webpasswd *pw, const char *data, size_t len, const char *path,
		    char *err, size_t errsz);
/* True when the user exists and the password matches. An unknown user
 * costs a bcrypt run too, so timing does not tell which users exist. */
bool webpasswd_check(const struct webpasswd *pw, const char *user, const char *password);
void webpasswd_free(struct webpasswd *pw);

#endif
