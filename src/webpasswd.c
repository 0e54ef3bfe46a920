/* webpasswd: htpasswd files. Only bcrypt ($2y$, $2b$, $2a$) is accepted:
 * the MD5, SHA-1 and crypt(3) DES forms htpasswd can also write are too
 * weak for a page that resends mail. The file is read once, at start. */
#include "config.h"
#include "webpasswd.h"
#include "util.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A valid bcrypt hash of a password nobody has, for unknown users. */
static const char dummy_hash[] = "$2y$05$cXqZYKGQhJU1cl0wDg7cauBpLrjBR8Rex6QPZcLFtCGqosnyTAqZ.";

static bool bcrypt_hash(const char *h)
{
	if (strncmp(h, "$2y$", 4) && strncmp(h, "$2b$", 4) && strncmp(h, "$2a$", 4))
		return false;
	return strlen(h) == 60 && h[4] >= '0' && h[4] <= '3' && h[5] >= '0' && h[5] <= '9' && h[6] == '$';
}

static int fail(char *err, size_t errsz, const char *path, int line, const char *why)
{
	if (line)
		snprintf(err, errsz, "%s:%d: %s", path, line, why);
	else
		snprintf(err, errsz, "%s: %s", path, why);
	errno = EINVAL;
	return -1;
}

/* Adds one "user:hash" line (without its newline). */
static int add_line(struct webpasswd *pw, char *line, const char *path, int lineno, char *err, size_t errsz)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return fail(err, errsz, path, lineno, "not user:hash");
	*colon = '\0';
	if (!bcrypt_hash(colon + 1))
		return fail(err, errsz, path, lineno, "not a bcrypt hash (create it with htpasswd -B)");
	if (strlen(line) > 64 || !util_utf8_valid(line, strlen(line)))
		return fail(err, errsz, path, lineno, "user name longer than 64 bytes or not UTF-8");
	for (size_t i = 0; i < pw->n; i++)
		if (!strcmp(pw->u[i].name, line))
			return fail(err, errsz, path, lineno, "user given twice");
	struct webpasswd_user *u = realloc(pw->u, (pw->n + 1) * sizeof *u);
	if (!u)
		return fail(err, errsz, path, lineno, "out of memory");
	pw->u = u;
	u[pw->n].name = util_strdup(line);
	u[pw->n].hash = util_strdup(colon + 1);
	pw->n++;
	return 0;
}

int webpasswd_parse(struct webpasswd *pw, const char *data, size_t len, const char *path,
		    char *err, size_t errsz)
{
	memset(pw, 0, sizeof *pw);
	char *copy = malloc(len + 1);
	if (!copy)
		return fail(err, errsz, path, 0, "out of memory");
	memcpy(copy, data, len);
	copy[len] = '\0';
	int lineno = 0, rc = 0;
	if (memchr(data, '\0', len))
		rc = fail(err, errsz, path, 0, "contains a NUL byte");
	for (char *p = copy, *nl; rc == 0 && *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		size_t l = strlen(p);
		if (l && p[l - 1] == '\r')
			p[--l] = '\0';
		if (l == 0 || p[0] == '#')
			continue;
		rc = add_line(pw, p, path, lineno, err, errsz);
	}
	explicit_bzero(copy, len);
	free(copy);
	if (rc == 0 && pw->n == 0)
		rc = fail(err, errsz, path, 0, "no users (add one with htpasswd -B)");
	if (rc < 0)
		webpasswd_free(pw);
	return rc;
}

int webpasswd_load(struct webpasswd *pw, const char *path, char *err, size_t errsz)
{
	memset(pw, 0, sizeof *pw);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	struct stat st;
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s (create it with htpasswd -B -c)", path, strerror(errno));
		return -1;
	}
	char *data = NULL;
	size_t len = 0;
	int rc = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = fail(err, errsz, path, 0, "not a regular file");
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		rc = fail(err, errsz, path, 0, "readable or writable by others; refusing it (chmod o-rw)");
	else if (util_read_fd(fd, 1024 * 1024, &data, &len) < 0)
		rc = fail(err, errsz, path, 0, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
	close(fd);
	if (rc == 0 && len == 0)
		rc = fail(err, errsz, path, 0, "empty (add a user with htpasswd -B)");
	if (rc == 0)
		rc = webpasswd_parse(pw, data, len, path, err, errsz);
	if (data)
		explicit_bzero(data, len);
	free(data);
	return rc;
}

bool webpasswd_check(const struct webpasswd *pw, const char *user, const char *password)
{
	const char *hash = dummy_hash;
	bool known = false;
	for (size_t i = 0; user && i < pw->n; i++) {
		if (!strcmp(pw->u[i].name, user)) {
			hash = pw->u[i].hash;
			known = true;
		}
	}
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (!cd || !password)
		return free(cd), false;
	const char *out = crypt_r(password, hash, cd);
	bool ok = out && out[0] != '*' && strlen(out) == strlen(hash) && !strcmp(out, hash);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok && known;
}

void webpasswd_free(struct webpasswd *pw)
{
	for (size_t i = 0; i < pw->n; i++) {
		free(pw->u[i].name);
		explicit_bzero(pw->u[i].hash, strlen(pw->u[i].hash));
		free(pw->u[i].hash);
	}
	free(pw->u);
	memset(pw, 0, sizeof *pw);
}
