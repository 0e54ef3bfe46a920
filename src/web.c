/* msgspool-web: the web admin. Reads the configuration (its web: section),
 * the users (htpasswd, bcrypt) and the TLS files, becomes the spool's
 * owner when started as root (spool_become_owner), opens the spool, and
 * serves until SIGTERM. It refuses to start (exit 78) on anything unsafe:
 * no users, a users file others can read, half a TLS setup. It must never
 * run without a login in front of the spool. See man/msgspool-web.8. */
#include "config.h"
#include "cmd_owner.h"
#include "conf.h"
#include "spool.h"
#include "util.h"
#include "webauth.h"
#include "webhtml.h"
#include "webhttp.h"
#include "webpages.h"
#include "webpasswd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <sys/socket.h>

static const char usage[] =
	"Usage: msgspool-web [-c FILE]\n"
	"Serves the web admin of a msgspool spool: the list of message receivers with\n"
	"filters, search and the resend and delete actions, each receiver's detail, a\n"
	"dashboard and a JSON API. Users come from web.htpasswd (htpasswd -B).\n"
	"  -c, --config FILE  configuration (default $MSGSPOOL_CONFIG, then %s)\n"
	"  -h, --help         this help\n"
	"  --version          print the version\n";

/* -c, then $MSGSPOOL_CONFIG, then the default file if it exists, as msgspool. */
static int load_conf(struct conf *c, const char *path)
{
	char err[512];
	if (!path || !*path)
		path = getenv("MSGSPOOL_CONFIG");
	if (!path || !*path) {
		path = CONF_DEFAULT_PATH;
		if (access(path, F_OK) < 0)
			path = NULL;
	}
	conf_defaults(c);
	if (path && conf_load(c, path, err, sizeof err) < 0) {
		fprintf(stderr, "msgspool-web: %s\n", err);
		return EX_CONFIG;
	}
	return 0;
}

/* "host:port" or "[v6]:port" into an address; -1 when it is neither. */
static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	if (!colon || !colon[1] || strlen(s) >= sizeof host)
		return -1;
	size_t hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -1;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	if (getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

/* Reads a PEM file whole; NULL with a message. */
static char *read_pem(const char *path)
{
	char *data = NULL;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || util_read_fd(fd, 1024 * 1024, &data, &len) < 0 || !len) {
		fprintf(stderr, "msgspool-web: %s: %s\n", path, fd < 0 || errno ? strerror(errno) : "empty");
		free(data);
		data = NULL;
	}
	if (fd >= 0)
		close(fd);
	return data;
}

/* Everything that must hold before listening; a sysexits code. */
static int prepare(struct webapp *app, struct sockaddr_storage *ss, char **cert, char **key)
{
	char err[512];
	if (webpasswd_load(&app->pw, app->conf.web.htpasswd, err, sizeof err) < 0) {
		fprintf(stderr, "msgspool-web: %s\n", err);
		return EX_CONFIG;
	}
	if (!app->conf.web.tls_cert != !app->conf.web.tls_key) {
		fprintf(stderr, "msgspool-web: %s: web.tls_cert and web.tls_key go together: set both or neither\n",
			app->conf.path ? app->conf.path : "configuration");
		return EX_CONFIG;
	}
	if (app->conf.web.tls_cert && (!(*cert = read_pem(app->conf.web.tls_cert)) ||
				       !(*key = read_pem(app->conf.web.tls_key))))
		return EX_CONFIG;
	if (parse_listen(app->conf.web.listen, ss) < 0) {
		fprintf(stderr, "msgspool-web: web.listen: '%s' is not host:port or [v6]:port\n", app->conf.web.listen);
		return EX_CONFIG;
	}
	/* Root reads its secrets first, then works as the spool's owner, as
	 * every msgspool command does: a resend must not leave root's files.
	 * The password by the commands' rule (owner_read_password: its mode,
	 * and never through the spool, where a producer may plant a link);
	 * one that breaks it stops the start, as it stops msgspoold's. */
	if (geteuid() == 0 && !(app->conf.smtp.password = owner_read_password(&app->conf, err, sizeof err)) && err[0]) {
		fprintf(stderr, "msgspool-web: %s\n", err);
		return EX_CONFIG;
	}
	if (spool_become_owner(app->conf.spool) < 0) {
		fprintf(stderr, "msgspool-web: %s: cannot become its owner: %s\n", app->conf.spool, strerror(errno));
		return EX_OSERR;
	}
	if (spool_open(&app->sp, app->conf.spool) < 0) {
		fprintf(stderr, "msgspool-web: %s: cannot open spool: %s\n", app->conf.spool, strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_NOPERM;
	}
	app->auth = webauth_new();
	return app->auth ? 0 : EX_OSERR;
}

/* The routes, handed to webhttp at start: the HTTP layer below knows no
 * page, so a new page is a handler and one line here. */
static void static_css(struct web_req *r)
{
	r->ctype = "text/css; charset=utf-8";
	util_buf_adds(&r->out, webhtml_css);
}

static void static_js(struct web_req *r)
{
	r->ctype = "text/javascript; charset=utf-8";
	util_buf_adds(&r->out, webhtml_js);
}

static const struct webhttp_route routes[] = {
	{"GET", "/static/style.css", WEBHTTP_OPEN, static_css, NULL},
	{"GET", "/static/app.js", WEBHTTP_OPEN, static_js, NULL},
	{"GET", "/login", WEBHTTP_OPEN, webpages_login_form, NULL},
	{"POST", "/login", WEBHTTP_OPEN, webpages_login, NULL},
	{"POST", "/logout", WEBHTTP_PAGE, webpages_logout, NULL},
	{"GET", "/", WEBHTTP_PAGE, webpages_dashboard, NULL},
	{"GET", "/receivers", WEBHTTP_PAGE, webpages_list, NULL},
	{"POST", "/receivers/resend", WEBHTTP_PAGE, webpages_resend, NULL},
	{"POST", "/receivers/delete", WEBHTTP_PAGE, webpages_delete, NULL},
	{"POST", "/receivers/hold", WEBHTTP_PAGE, webpages_hold, NULL},
	{"POST", "/receivers/release", WEBHTTP_PAGE, webpages_release, NULL},
	{"GET", "/receivers/*", WEBHTTP_PAGE, NULL, webpages_detail},
	{"GET", "/api/receivers", WEBHTTP_API, webapi_list, NULL},
	{"POST", "/api/resend", WEBHTTP_API, webapi_resend, NULL},
	{"GET", "/api/receivers/*", WEBHTTP_API, NULL, webapi_show},
};

static int serve(struct webapp *app, const struct sockaddr_storage *ss, const char *cert, const char *key)
{
	char err[512];
	sigset_t set;
	/* Blocked before the server's thread starts, so only sigwait sees them. */
	util_block_stop_signals(&set);
	if (webhttp_start(app, routes, sizeof routes / sizeof *routes, (const struct sockaddr *)ss,
			  cert, key, err, sizeof err) < 0) {
		fprintf(stderr, "msgspool-web: %s\n", err);
		return EX_UNAVAILABLE;
	}
	webhttp_log("listening on %s (%s), spool %s, %zu user%s", app->conf.web.listen, cert ? "https" : "http",
		    app->conf.spool, app->pw.n, app->pw.n == 1 ? "" : "s");
	int sig = 0;
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		webhttp_log("SIGHUP ignored: restart to read the configuration again");
	webhttp_log("stopping (signal %d)", sig);
	webhttp_stop(app);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
					     {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	const char *conf_path = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (o == 'c') {
			conf_path = optarg;
		} else if (o == 'h') {
			printf(usage, CONF_DEFAULT_PATH);
			return 0;
		} else if (o == 'V') {
			printf("msgspool-web %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			fprintf(stderr, usage, CONF_DEFAULT_PATH);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "msgspool-web: unexpected argument: %s\n", argv[optind]);
		return EX_USAGE;
	}
	struct webapp app;
	memset(&app, 0, sizeof app);
	struct sockaddr_storage ss;
	char *cert = NULL, *key = NULL;
	int rc = load_conf(&app.conf, conf_path);
	if (rc == 0)
		rc = prepare(&app, &ss, &cert, &key);
	if (rc == 0)
		rc = serve(&app, &ss, cert, key);
	free(cert);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	spool_close(app.sp);
	webauth_free(app.auth);
	webpasswd_free(&app.pw);
	conf_free(&app.conf);
	return rc;
}
