/* conf: the configuration file, read with a table of keys so that every key
 * is checked the same way and an unknown one is an error. */
#include "config.h"
#include "conf.h"
#include "paths.h"
#include "util.h"
#include "ydoc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char conf_default_path[] = MSGSPOOL_SYSCONFDIR "/msgspool/msgspool.yaml";
const char conf_default_spool[] = MSGSPOOL_LOCALSTATEDIR "/spool/msgspool";

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	c->spool = strdup(CONF_DEFAULT_SPOOL);
	c->resend_limit = 2;
	c->from = strdup("msgspool <msgspool@localhost>");
	c->subject_prefix = strdup("");
	c->message_id_domain = NULL;
	c->transport = CONF_TRANSPORT_MAILDIR;
	c->max_receiver_size = 10u * 1024 * 1024;
	c->smtp.host = strdup("127.0.0.1");
	c->smtp.port = 25;
	c->smtp.tls = CONF_TLS_NONE;
	c->smtp.verify = true;
	c->smtp.ca_file = NULL;
	c->smtp.timeout = 30;
	/* Adapting from 4 (as many as before it adapted) to 40: bench/run.sh wan
	 * and loopback measured it (BENCHMARKS.md). */
	c->smtp.connections = 40;
	c->smtp.connections_min = 4;
	c->smtp.messages_per_connection = 100;
	c->smtp.pipelining = true;
	c->smtp.chunking = true;
	c->maildir.path = strdup(MSGSPOOL_LOCALSTATEDIR "/mail/msgspool-outbox");
	c->daemon.user = NULL;
	c->daemon.retry_failed_after = 0;
	c->daemon.idle_close = 5;
	c->daemon.rescan_interval = 60;
	c->web.listen = strdup("127.0.0.1:8025");
	c->web.htpasswd = strdup(MSGSPOOL_SYSCONFDIR "/msgspool/web.htpasswd");
}

const char *conf_locate(const char *explicit_path)
{
	if (!explicit_path || !*explicit_path)
		explicit_path = getenv("MSGSPOOL_CONFIG");
	if (explicit_path && *explicit_path)
		return explicit_path;
	return access(CONF_DEFAULT_PATH, F_OK) == 0 ? CONF_DEFAULT_PATH : NULL;
}

void conf_print_version(FILE *f, const char *prog, const struct conf *c)
{
	fprintf(f, "%s %s\n"
		   "configuration: %s\n"
		   "spool:         %s\n"
		   "built with:    configuration %s, spool %s, programs in %s\n",
		prog, PACKAGE_VERSION, c->path ? c->path : "none (built-in defaults)", c->spool,
		CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL, MSGSPOOL_SBINDIR);
}

void conf_free(struct conf *c)
{
	char **strs[] = {&c->path, &c->spool, &c->from, &c->subject_prefix, &c->message_id_domain,
			 &c->smtp.host, &c->smtp.ca_file, &c->smtp.username, &c->smtp.password_file,
			 &c->maildir.path, &c->daemon.user,
			 &c->web.listen, &c->web.htpasswd, &c->web.tls_cert, &c->web.tls_key,
			 &c->smtp.helo};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	if (c->smtp.password) {
		explicit_bzero(c->smtp.password, strlen(c->smtp.password));
		free(c->smtp.password);
		c->smtp.password = NULL;
	}
}

enum kind { K_STR, K_PATH, K_INT, K_BOOL, K_TLS, K_TRANSPORT, K_SIZE, K_CONNS, K_RATE };

struct key {
	const char *section;	/* NULL: top level */
	const char *name;
	enum kind kind;
	size_t off;
	long min, max;
};

#define O(f) offsetof(struct conf, f)
static const struct key keys[] = {
	{NULL, "spool", K_PATH, O(spool), 0, 0},
	{NULL, "resend_limit", K_INT, O(resend_limit), 0, 1000},
	{NULL, "from", K_STR, O(from), 0, 0},
	{NULL, "subject_prefix", K_STR, O(subject_prefix), 0, 0},
	{NULL, "message_id_domain", K_STR, O(message_id_domain), 0, 0},
	{NULL, "transport", K_TRANSPORT, O(transport), 0, 0},
	{NULL, "permanent_failures_to_error", K_BOOL, O(permanent_to_error), 0, 0},
	{NULL, "max_receiver_size", K_SIZE, O(max_receiver_size), 1024, 1L << 30},
	{"smtp", "host", K_STR, O(smtp.host), 0, 0},
	{"smtp", "port", K_INT, O(smtp.port), 1, 65535},
	{"smtp", "tls", K_TLS, O(smtp.tls), 0, 0},
	{"smtp", "verify", K_BOOL, O(smtp.verify), 0, 0},
	{"smtp", "ca_file", K_PATH, O(smtp.ca_file), 0, 0},
	{"smtp", "username", K_STR, O(smtp.username), 0, 0},
	{"smtp", "password_file", K_PATH, O(smtp.password_file), 0, 0},
	{"smtp", "timeout", K_INT, O(smtp.timeout), 1, 3600},
	{"smtp", "connections", K_CONNS, O(smtp.connections), 1, CONF_CONNECTIONS_MAX},
	{"smtp", "rate", K_RATE, O(smtp.rate), 1, 1000000000},
	{"smtp", "messages_per_connection", K_INT, O(smtp.messages_per_connection), 1, 100000},
	{"smtp", "pipelining", K_BOOL, O(smtp.pipelining), 0, 0},
	{"smtp", "chunking", K_BOOL, O(smtp.chunking), 0, 0},
	{"smtp", "helo", K_STR, O(smtp.helo), 0, 0},
	{"smtp", "max_message_size", K_SIZE, O(smtp.max_message_size), 0, 1L << 30},
	{"maildir", "path", K_PATH, O(maildir.path), 0, 0},
	{"daemon", "user", K_STR, O(daemon.user), 0, 0},
	{"daemon", "retry_failed_after", K_INT, O(daemon.retry_failed_after), 0, 365L * 86400},
	{"daemon", "idle_close", K_INT, O(daemon.idle_close), 0, 3600},
	{"daemon", "rescan_interval", K_INT, O(daemon.rescan_interval), 1, 86400},
	{"web", "listen", K_STR, O(web.listen), 0, 0},
	{"web", "htpasswd", K_PATH, O(web.htpasswd), 0, 0},
	{"web", "tls_cert", K_PATH, O(web.tls_cert), 0, 0},
	{"web", "tls_key", K_PATH, O(web.tls_key), 0, 0},
};
static const char *const sections[] = {"smtp", "maildir", "daemon", "web"};

static int bad(char *err, size_t errsz, const char *path, int line, const char *sec,
	       const char *key, const char *reason)
{
	snprintf(err, errsz, "%s:%d: %s%s%s: %s", path, line, sec ? sec : "", sec ? "." : "",
		 key, reason);
	errno = EINVAL;
	return -1;
}

static int set_conns(struct conf *c, const struct key *k, const struct ydoc_node *v,
		     const char *path, char *err, size_t errsz);

static int set_rate(struct conf *c, const struct key *k, const struct ydoc_node *v,
		    const char *path, char *err, size_t errsz);

/* The names of the enum keys' values, by value; NULL ends each list. */
static const char *const tls_names[] = {
	[CONF_TLS_NONE] = "none", [CONF_TLS_STARTTLS] = "starttls", [CONF_TLS_TLS] = "tls", NULL,
};
static const char *const transport_names[] = {
	[CONF_TRANSPORT_SMTP] = "smtp", [CONF_TRANSPORT_MAILDIR] = "maildir", NULL,
};

/* The value whose name s is; -1 with "'s' is not one of a, b" in reason. */
static int enum_index(const char *s, const char *const *names, char *reason, size_t rsz)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	int n = snprintf(reason, rsz, "'%s' is not one of ", s);
	for (int i = 0; names[i] && n >= 0 && (size_t)n < rsz; i++)
		n += snprintf(reason + n, rsz - (size_t)n, "%s%s", i ? ", " : "", names[i]);
	return -1;
}

static int set_key(struct conf *c, const struct key *k, const struct ydoc_node *v,
		   const char *path, char *err, size_t errsz)
{
	char *base = (char *)c;
	char reason[200];
	if (k->kind == K_CONNS)
		return set_conns(c, k, v, path, err, errsz);
	if (k->kind == K_RATE)
		return set_rate(c, k, v, path, err, errsz);
	if (v->kind != YDOC_SCALAR)
		return bad(err, errsz, path, v->line, k->section, k->name, "must be a single value");
	switch (k->kind) {
	case K_STR:
	case K_PATH: {
		if (ydoc_is_null(v)) {
			free(*(char **)(base + k->off));
			*(char **)(base + k->off) = NULL;
			return 0;
		}
		if (util_has_crlf(v->str))
			return bad(err, errsz, path, v->line, k->section, k->name, "line breaks are not allowed");
		if (k->kind == K_PATH && v->str[0] != '/')
			return bad(err, errsz, path, v->line, k->section, k->name, "must be an absolute path");
		free(*(char **)(base + k->off));
		*(char **)(base + k->off) = strdup(v->str);
		return 0;
	}
	case K_INT:
	case K_CONNS:
	case K_RATE:
	case K_SIZE: {
		long long n;
		if (ydoc_to_int(v, &n) < 0 || n < k->min || n > k->max) {
			snprintf(reason, sizeof reason, "'%s' is not a whole number from %ld to %ld", v->str,
				 k->min, k->max);
			return bad(err, errsz, path, v->line, k->section, k->name, reason);
		}
		if (k->kind == K_SIZE)
			*(size_t *)(base + k->off) = (size_t)n;
		else
			*(long *)(base + k->off) = (long)n;
		return 0;
	}
	case K_BOOL:
		if (ydoc_to_bool(v, (bool *)(base + k->off)) < 0) {
			snprintf(reason, sizeof reason, "'%s' is not true or false", v->str);
			return bad(err, errsz, path, v->line, k->section, k->name, reason);
		}
		return 0;
	case K_TLS:
	case K_TRANSPORT: {
		int i = enum_index(v->str, k->kind == K_TLS ? tls_names : transport_names, reason, sizeof reason);
		if (i < 0)
			return bad(err, errsz, path, v->line, k->section, k->name, reason);
		if (k->kind == K_TLS)
			*(enum conf_tls *)(base + k->off) = (enum conf_tls)i;
		else
			*(enum conf_transport *)(base + k->off) = (enum conf_transport)i;
		return 0;
	}
	}
	return -1;
}

static int load_map(struct conf *c, const struct ydoc_node *map, const char *section,
		    const char *path, char *err, size_t errsz)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *name = ydoc_key(map, i);
		const struct ydoc_node *v = ydoc_val(map, i);
		bool is_section = false;
		for (size_t s = 0; !section && s < sizeof sections / sizeof *sections; s++)
			is_section |= !strcmp(name, sections[s]);
		if (is_section) {
			if (ydoc_is_null(v))
				continue;
			if (v->kind != YDOC_MAP)
				return bad(err, errsz, path, v->line, NULL, name, "must be a mapping");
			if (load_map(c, v, name, path, err, errsz) < 0)
				return -1;
			continue;
		}
		const struct key *k = NULL;
		for (size_t j = 0; j < sizeof keys / sizeof *keys; j++) {
			bool same_sec = section ? (keys[j].section && !strcmp(keys[j].section, section))
						: !keys[j].section;
			if (same_sec && !strcmp(keys[j].name, name))
				k = &keys[j];
		}
		if (!k)
			return bad(err, errsz, path, map->items[2 * i]->line, section, name, "unknown key");
		if (set_key(c, k, v, path, err, errsz) < 0)
			return -1;
	}
	return 0;
}

int conf_parse(struct conf *c, const char *data, size_t len, const char *path, char *err, size_t errsz)
{
	struct ydoc_node *doc;
	struct ydoc_error ye;
	if (ydoc_parse(data, len, NULL, &doc, &ye) < 0) {
		snprintf(err, errsz, "%s:%d: %s", path, ye.line, ye.msg);
		errno = EINVAL;
		return -1;
	}
	if (doc->kind != YDOC_MAP) {
		snprintf(err, errsz, "%s:%d: the configuration must be a YAML mapping", path, doc->line);
		ydoc_free(doc);
		errno = EINVAL;
		return -1;
	}
	int rc = load_map(c, doc, NULL, path, err, errsz);
	ydoc_free(doc);
	if (rc == 0 && (!c->spool || !c->from)) {
		snprintf(err, errsz, "%s: spool and from must be set", path);
		errno = EINVAL;
		rc = -1;
	}
	return rc;
}

int conf_load(struct conf *c, const char *path, char *err, size_t errsz)
{
	char *data;
	size_t len;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* A configuration others may write could redirect mail or the spool. */
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errsz, "%s: writable by others; refusing to use it (chmod o-w)", path);
		close(fd);
		errno = EPERM;
		return -1;
	}
	int rc = util_read_fd(fd, 1024 * 1024, &data, &len);
	close(fd);
	if (rc < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = conf_parse(c, data, len, path, err, errsz);
	free(data);
	if (rc == 0) {
		free(c->path);
		c->path = strdup(path);
	}
	return rc;
}

/* smtp.connections: a whole number (that many, always) or {min: N, max: N}
 * (msgspoold starts with min and adapts up to max). */
static int set_conns(struct conf *c, const struct key *k, const struct ydoc_node *v,
		     const char *path, char *err, size_t errsz)
{
	static const struct key part[] = {
		{"smtp", "connections.min", K_INT, O(smtp.connections_min), 1, CONF_CONNECTIONS_MAX},
		{"smtp", "connections.max", K_INT, O(smtp.connections), 1, CONF_CONNECTIONS_MAX},
	};
	struct key one = *k;
	one.kind = K_INT;
	if (v->kind == YDOC_SCALAR) {
		if (set_key(c, &one, v, path, err, errsz) < 0)
			return -1;
		c->smtp.connections_min = c->smtp.connections;
		return 0;
	}
	if (v->kind != YDOC_MAP)
		return bad(err, errsz, path, v->line, k->section, k->name, "must be a whole number or {min: N, max: N}");
	for (size_t i = 0; i < v->n; i++) {
		const char *name = ydoc_key(v, i);
		if (strcmp(name, "min") && strcmp(name, "max")) {
			char full[64];
			snprintf(full, sizeof full, "%s.%s", k->name, name);
			return bad(err, errsz, path, v->items[2 * i]->line, k->section, full, "unknown key");
		}
	}
	const struct ydoc_node *lo = ydoc_get(v, "min"), *hi = ydoc_get(v, "max");
	if (!lo || !hi)
		return bad(err, errsz, path, v->line, k->section, k->name, "needs both min and max");
	if (set_key(c, &part[0], lo, path, err, errsz) < 0 || set_key(c, &part[1], hi, path, err, errsz) < 0)
		return -1;
	if (c->smtp.connections_min > c->smtp.connections) {
		char reason[80];
		snprintf(reason, sizeof reason, "min %ld is above max %ld", c->smtp.connections_min,
			 c->smtp.connections);
		return bad(err, errsz, path, v->line, k->section, k->name, reason);
	}
	return 0;
}

char *conf_read_password(const char *path, char *err, size_t errsz)
{
	struct stat st;
	char *data;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot read the SMTP password: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP))) {
		snprintf(err, errsz, "%s: the password file must be a regular file not readable by others "
			 "and writable by its owner only (chmod 0600 or 0640)", path);
		close(fd);
		return NULL;
	}
	int rc = util_read_fd(fd, 4096, &data, &len);
	close(fd);
	if (rc < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	if (!len || util_has_crlf(data)) {
		snprintf(err, errsz, "%s: the password must be one non-empty line", path);
		free(data);
		return NULL;
	}
	return data;
}

/* One limit, "N/second", "N/minute", "N/hour" or "N/day". */
static int parse_rate(const char *s, struct conf_rate *r)
{
	static const char *const units[] = {"second", "minute", "hour", "day"};
	static const long per[] = {1, 60, 3600, 86400};
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno || end == s || *end != '/' || n < 1 || n > 1000000000 || !isdigit((unsigned char)*s))
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(end + 1, units[i])) {
			r->n = n;
			r->per = per[i];
			return 0;
		}
	}
	return -1;
}

/* smtp.rate: one limit or a list of them, at most one per unit. */
static int set_rate(struct conf *c, const struct key *k, const struct ydoc_node *v,
		    const char *path, char *err, size_t errsz)
{
	size_t n = v->kind == YDOC_SEQ ? v->n : 1;
	if ((v->kind != YDOC_SEQ && v->kind != YDOC_SCALAR) || n > 4)
		return bad(err, errsz, path, v->line, k->section, k->name,
			   "must be a limit such as \"20/second\" or a list of at most four");
	c->smtp.nrates = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ydoc_node *e = v->kind == YDOC_SEQ ? v->items[i] : v;
		struct conf_rate r;
		char reason[200];
		if (e->kind != YDOC_SCALAR || parse_rate(e->str, &r) < 0) {
			snprintf(reason, sizeof reason, "'%s' is not N/second, N/minute, N/hour or N/day",
				 e->kind == YDOC_SCALAR ? e->str : "?");
			return bad(err, errsz, path, e->line, k->section, k->name, reason);
		}
		for (int j = 0; j < c->smtp.nrates; j++)
			if (c->smtp.rate[j].per == r.per)
				return bad(err, errsz, path, e->line, k->section, k->name, "two limits for the same unit");
		c->smtp.rate[c->smtp.nrates++] = r;
	}
	return 0;
}

const char *conf_transport_name(enum conf_transport t)
{
	return transport_names[t];
}

const char *conf_tls_name(enum conf_tls t)
{
	return tls_names[t];
}
