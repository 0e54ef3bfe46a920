/* conf: the configuration file (/etc/msgspool/msgspool.yaml): its keys,
 * their defaults, and errors that name the file, line and key. */
#ifndef MSGSPOOL_CONF_H
#define MSGSPOOL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The build's default file and spool, from the configured directories
 * (src/paths.h, which only conf.c reads, so that new paths rebuild one file). */
extern const char conf_default_path[];
extern const char conf_default_spool[];
#define CONF_DEFAULT_PATH conf_default_path
#define CONF_DEFAULT_SPOOL conf_default_spool

enum conf_tls { CONF_TLS_NONE, CONF_TLS_STARTTLS, CONF_TLS_TLS };
enum conf_transport { CONF_TRANSPORT_SMTP, CONF_TRANSPORT_MAILDIR };

/* The largest smtp.connections (its max); msgspoold's worker arrays have
 * this many slots. */
#define CONF_CONNECTIONS_MAX 64

struct conf {
	char *path;		/* the file read, or NULL for built-in defaults */
	char *spool;
	long resend_limit;
	char *from;
	char *subject_prefix;
	char *message_id_domain;	/* right side of our Message-IDs */
	enum conf_transport transport;
	bool permanent_to_error;	/* 5xx goes straight to error/ */
	size_t max_receiver_size;
	struct {
		char *host;
		long port;
		enum conf_tls tls;
		bool verify;
		char *ca_file;
		char *username;
		char *password_file;
		char *password;		/* read from password_file by the daemon before it drops privileges */
		long timeout;
		long connections;	/* the most connections msgspoold opens */
		long connections_min;	/* it starts with these (== connections: fixed) */
		long messages_per_connection;
		struct conf_rate {
			long n, per;	/* at most n messages per `per` seconds (1, 60, 3600, 86400) */
		} rate[4];		/* smtp.rate: over all connections; nrates used */
		int nrates;
		bool pipelining;	/* use PIPELINING when the server offers it */
		bool chunking;		/* use CHUNKING (BDAT) when offered with PIPELINING */
		char *helo;		/* our name in EHLO/HELO; NULL: the host's FQDN */
		size_t max_message_size;	/* bytes a rendered message may have; 0: no limit */
	} smtp;
	struct {
		char *path;
	} maildir;
	struct {
		char *user;
		long retry_failed_after;
		long idle_close;	/* seconds an idle connection stays open */
		long rescan_interval;	/* safety rescan of new/ */
	} daemon;
	struct {
		char *listen;		/* host:port or [v6]:port of msgspool-web */
		char *htpasswd;		/* users, bcrypt hashes (htpasswd -B) */
		char *tls_cert, *tls_key;	/* both set: HTTPS */
	} web;
};

/* Built-in defaults: the maildir transport and spool of a demo. */
void conf_defaults(struct conf *c);
/* Loads a file over the defaults. On error fills err with
 * "FILE:LINE: key: reason" and returns -1 with errno set. */
int conf_load(struct conf *c, const char *path, char *err, size_t errsz);
/* The same from memory (path only names it in errors). */
int conf_parse(struct conf *c, const char *data, size_t len, const char *path, char *err, size_t errsz);
void conf_free(struct conf *c);
/* Reads the SMTP password from its file: a regular file not readable by
 * others nor writable by its group, one non-empty line. NULL with the
 * reason in err. */
char *conf_read_password(const char *path, char *err, size_t errsz);
/* The file to read: explicit (-c, else $MSGSPOOL_CONFIG when set and not
 * empty), else CONF_DEFAULT_PATH when it exists, else NULL: built-in
 * defaults, which the caller should warn about. */
const char *conf_locate(const char *explicit_path);
/* --version: the program's version, the file and spool in use, and the
 * paths this build was configured with. */
void conf_print_version(FILE *f, const char *prog, const struct conf *c);
/* A transport's name as the configuration spells it ("smtp", "maildir"). */
const char *conf_transport_name(enum conf_transport t);
const char *conf_tls_name(enum conf_tls t);	/* "none", "starttls", "tls": as smtp.tls spells them */

#endif
