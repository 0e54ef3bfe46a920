/* msgspool: the command line for producers and sysadmins: init, enqueue,
 * compose and the dispatch to the other commands (cmd_send.c,
 * cmd_admin.c). One small function per command; it must never do the work
 * itself (the modules below do) nor write a file but through them. The
 * commands are described in msgspool(1). */
#include "config.h"
#include "cli.h"
#include "cmd_queue.h"
#include "cmd_owner.h"
#include "compose.h"
#include "mime.h"
#include "deliver.h"
#include "json.h"
#include "msgid.h"
#include "query.h"
#include "receiver.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ---- init ---- */

static const char init_help[] =
	"Usage: msgspool init [--owner USER] [--group GROUP]\n"
	"Creates the spool directory tree named by the configuration. Run as root,\n"
	"gives it to daemon.user (and, run again, gives back to it what root left).\n"
	"  --owner USER   the spool's owner instead of daemon.user\n"
	"  --group GROUP  producers in GROUP may write tmp/, new/ and messages/\n";

static int cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"group", required_argument, 0, 'g'}, {"owner", required_argument, 0, 'o'},
					     {0, 0, 0, 0}};
	gid_t gid = (gid_t)-1;
	const char *owner = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "g:", opts, NULL)) != -1) {
		if (o == 'o') {
			owner = optarg;
			continue;
		}
		if (o != 'g')
			return cli_usage_error("init", "unknown option");
		struct group *g = getgrnam(optarg);
		if (!g)
			return cli_usage_error("init", "no such group: %s", optarg);
		gid = g->gr_gid;
	}
	if (optind != argc)
		return cli_usage_error("init", "unexpected argument: %s", argv[optind]);
	int rc = owner_init(c, owner, gid);
	if (rc)
		return rc;
	/* The Message-ID key, made by the owner now so that every sender finds
	 * it (msgid.h): as root, init becomes the owner for it, its last step. */
	if ((geteuid() == 0 && (rc = owner_become(c)) != 0) || (rc = cli_open_spool(c)) != 0)
		return rc;
	if (msgid_key_make(c->sp) < 0)
		cli_warn("%s/.message-id-key: cannot make it: %s", c->conf.spool, strerror(errno));
	printf("spool ready: %s\n", c->conf.spool);
	return 0;
}

/* ---- enqueue ---- */

static const char enqueue_help[] =
	"Usage: msgspool enqueue --to ADDR --subject S (--text-file F | --html-file F) [options]\n"
	"       msgspool enqueue -      (one receiver as YAML on standard input)\n"
	"Writes one receiver into new/ and prints its id.\n"
	"  --to ADDR         recipient address (send_to)\n"
	"  --subject S       subject, already in the user's language\n"
	"  --text-file F     plain-text body ('-' for standard input)\n"
	"  --html-file F     html body ('-' for standard input)\n"
	"  --user U          the user in the producing system\n"
	"  --language L      the language of the content\n"
	"  --type T          context type (comment_delivery, deadline_moved, ...)\n"
	"  --from ADDR       override the configured From\n"
	"  --reply-to ADDR   Reply-To address\n"
	"  --send-after T    not sent before T (RFC 3339, e.g. 2026-12-01T08:00:00Z)\n"
	"  --expires-at T    not sent after T: then error/ with \"expired at T\"\n"
	"  --priority P      high, normal (the default) or low: the order in a backlog\n"
	"  --key KEY         idempotency key: the same key never makes a second\n"
	"                    receiver, even when two producers race; a repeat prints\n"
	"                    the existing id and exits 0\n"
	"  -n, --dry-run     check everything, print the id it would have; write nothing\n"
	"  -q, --quiet       print nothing when the key was used before\n";

/* --dry-run and --quiet of enqueue and compose (for cron and scripts). */
static bool opt_dry, opt_quiet;

/* An idempotency key (--key) of enqueue and compose: absent, or 1 to 1000
 * bytes. */
static bool key_valid(const char *key)
{
	return !key || (*key && strlen(key) <= 1000);
}

/* Reads a file named on the command line ("-": standard input), up to max
 * bytes. */
static int read_path(struct cli *c, const char *path, size_t max, char **out, size_t *len)
{
	int fd = owner_open_input(c, path); /* root's own files were opened before it became the owner */
	if (fd < 0)
		return -1;
	int rc = util_read_fd(fd, max, out, len);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* The same for a body: UTF-8 text without NUL, else EILSEQ. */
static int read_file_arg(struct cli *c, const char *path, size_t max, char **out)
{
	size_t len;
	int rc = read_path(c, path, max, out, &len);
	if (rc == 0 && (memchr(*out, '\0', len) || !util_utf8_valid(*out, len))) {
		free(*out);
		*out = NULL; /* the caller tells which file failed by a NULL */
		errno = EILSEQ;
		return -1;
	}
	return rc;
}

static int enqueue_write(struct cli *c, struct receiver *r, const char *key)
{
	char why[600];
	struct util_buf saved = {0};
	/* Refuse now what the sender would refuse later (error/, corrupt/). */
	if (mime_check(r, &c->conf, why, sizeof why) < 0 || receiver_save(r, &saved) < 0 ||
	    saved.len > c->conf.max_receiver_size) {
		if (saved.len > c->conf.max_receiver_size)
			snprintf(why, sizeof why, "the receiver is %zu bytes, more than max_receiver_size (%zu)",
				 saved.len, c->conf.max_receiver_size);
		cli_err("%s: %s", r->id, why);
		util_buf_free(&saved);
		return EX_DATAERR;
	}
	util_buf_free(&saved);
	if (opt_dry)
		return queue_dry_enqueue(c, r->id, key, opt_quiet);
	if (key) {
		struct compose_result res;
		char rid[SPOOL_ID_MAX + 1], err[COMPOSE_ERRLEN];
		int rc = cli_open_spool(c);
		if (rc)
			return rc;
		if (compose_enqueue_keyed(c->sp, key, r->doc, &res, rid, sizeof rid, err, sizeof err) < 0) {
			cli_err("%s", err);
			return EX_IOERR;
		}
		if (res.existed && opt_quiet)
			return 0;
		if (res.existed)
			cli_warn("key '%s' was used before: receiver %s exists; nothing written", key, rid);
		printf("%s\n", rid);
		return 0;
	}
	struct util_buf out = {0};
	if (receiver_save(r, &out) < 0) {
		cli_err("cannot write receiver: %s", strerror(errno));
		return EX_SOFTWARE;
	}
	int rc = cli_open_spool(c);
	if (rc == 0 && spool_enqueue(c->sp, r->id, out.data, out.len) < 0) {
		cli_err("%s: cannot enqueue %s: %s", c->conf.spool, r->id, strerror(errno));
		rc = errno == EEXIST ? EX_DATAERR : EX_IOERR;
	}
	util_buf_free(&out);
	if (rc == 0)
		printf("%s\n", r->id);
	return rc;
}

static int enqueue_stdin(struct cli *c, const char *key)
{
	char *data, err[RECEIVER_ERRLEN], id[SPOOL_ID_MAX + 1];
	size_t len;
	struct receiver r;
	if (util_read_fd(0, c->conf.max_receiver_size, &data, &len) < 0) {
		cli_err("<stdin>: %s", errno == EFBIG ? "larger than max_receiver_size" : strerror(errno));
		return EX_DATAERR;
	}
	spool_new_id(id, sizeof id);
	int rc = receiver_parse(&r, id, data, len, time(NULL), "<stdin>", err, sizeof err);
	free(data);
	if (rc < 0) {
		cli_err("%s", err);
		return EX_DATAERR;
	}
	rc = enqueue_write(c, &r, key);
	receiver_free(&r);
	return rc;
}

/* The receiver keys enqueue sets from an option of the same meaning. */
static const char *const enqueue_keys[] = {"user", "language", "context_type", "from", "reply_to",
					   "send_after", "expires_at", "priority"};
#define ENQUEUE_NKEYS (sizeof enqueue_keys / sizeof *enqueue_keys)

/* Builds the receiver from the options and writes it. */
static int enqueue_build(struct cli *c, const char *to, const char *subject, const char *textf, const char *htmlf,
			 const char *const *vals, const char *key)
{
	char id[SPOOL_ID_MAX + 1], err[RECEIVER_ERRLEN];
	char *text = NULL, *html = NULL;
	if ((textf && read_file_arg(c, textf, c->conf.max_receiver_size, &text) < 0) ||
	    (htmlf && read_file_arg(c, htmlf, c->conf.max_receiver_size, &html) < 0)) {
		int e = errno;
		cli_err("%s: %s", (textf && !text) ? textf : htmlf, e == EILSEQ ? "not UTF-8 text" : strerror(e));
		free(text);
		return e == EILSEQ || e == EFBIG ? EX_DATAERR : EX_NOINPUT;
	}
	struct receiver r;
	spool_new_id(id, sizeof id);
	receiver_init(&r, id, to, subject, time(NULL));
	receiver_set(&r, "text", text);
	receiver_set(&r, "html", html);
	receiver_set(&r, "message_type", "email");
	for (size_t i = 0; i < ENQUEUE_NKEYS; i++)
		if (vals[i])
			receiver_set(&r, enqueue_keys[i], vals[i]);
	int rc = receiver_validate(&r, "<options>", err, sizeof err);
	if (rc < 0) {
		cli_err("%s", err);
		rc = EX_DATAERR;
	} else {
		rc = enqueue_write(c, &r, key);
	}
	receiver_free(&r);
	free(text);
	free(html);
	return rc;
}

/* An option whose val is 256 + i sets enqueue_keys[i]. */
static const struct option enqueue_opts[] = {
		{"to", required_argument, 0, 't'}, {"subject", required_argument, 0, 's'},
		{"text-file", required_argument, 0, 'T'}, {"html-file", required_argument, 0, 'H'},
		{"user", required_argument, 0, 256}, {"language", required_argument, 0, 257},
		{"type", required_argument, 0, 258}, {"from", required_argument, 0, 259},
		{"reply-to", required_argument, 0, 260}, {"send-after", required_argument, 0, 261},
		{"expires-at", required_argument, 0, 262}, {"priority", required_argument, 0, 263},
		{"key", required_argument, 0, 'k'}, CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};

static int cmd_enqueue(struct cli *c, int argc, char **argv)
{
	const struct option *opts = enqueue_opts;
	const char *to = NULL, *subject = NULL, *textf = NULL, *htmlf = NULL, *key = NULL;
	const char *vals[ENQUEUE_NKEYS] = {0};
	int o;
	while ((o = getopt_long(argc, argv, "nq", opts, NULL)) != -1) {
		if (cli_dry_quiet_option(o, &opt_dry, &opt_quiet))
			continue;
		switch (o) {
		case 't': to = optarg; break;
		case 's': subject = optarg; break;
		case 'T': textf = optarg; break;
		case 'H': htmlf = optarg; break;
		case 'k': key = optarg; break;
		default:
			if (o < 256 || o >= 256 + (int)ENQUEUE_NKEYS)
				return cli_usage_error("enqueue", "unknown option");
			vals[o - 256] = optarg;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "-") && optind + 1 == argc && !to && !subject)
		return enqueue_stdin(c, key);
	if (optind != argc)
		return cli_usage_error("enqueue", "unexpected argument: %s", argv[optind]);
	if (!key_valid(key))
		return cli_usage_error("enqueue", "--key takes 1 to 1000 characters");
	if (!to || !subject || (!textf && !htmlf))
		return cli_usage_error("enqueue", "--to, --subject and a body (--text-file or --html-file) are required");
	if (textf && htmlf && !strcmp(textf, "-") && !strcmp(htmlf, "-"))
		return cli_usage_error("enqueue", "only one body can come from standard input");
	return enqueue_build(c, to, subject, textf, htmlf, vals, key);
}

/* ---- compose ---- */

static const char compose_help[] =
	"Usage: msgspool compose [--key KEY] [--dry-run] [--quiet] FILE|-\n"
	"Renders one message for many receivers, each in their preferred language\n"
	"(or default_language), and writes the message record and every receiver:\n"
	"all or nothing. Prints the message id and the number of receivers.\n"
	"  --key KEY   idempotency key: a second run with the same key writes\n"
	"              nothing, says what exists, and exits 0\n"
	"  -n, --dry-run  render and check every receiver; write nothing\n"
	"  -q, --quiet    print nothing when the key was used before\n"
	"The format is in msgspool-receiver(5) and spool-layout/README.md.\n";

static const struct option compose_opts[] = {{"key", required_argument, 0, 'k'}, CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};

static int cmd_compose(struct cli *c, int argc, char **argv)
{
	const struct option *opts = compose_opts;
	const char *key = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "nq", opts, NULL)) != -1) {
		if (o == 'k')
			key = optarg;
		else if (!cli_dry_quiet_option(o, &opt_dry, &opt_quiet))
			return cli_usage_error("compose", "unknown option");
	}
	if (optind + 1 != argc)
		return cli_usage_error("compose", "give one message file, or - for standard input");
	if (!key_valid(key))
		return cli_usage_error("compose", "--key takes 1 to 1000 characters");
	const char *path = argv[optind];
	char *data, err[COMPOSE_ERRLEN];
	size_t len;
	int rc = read_path(c, path, 256u << 20, &data, &len);
	if (rc < 0) {
		cli_err("%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	if ((rc = cli_open_spool(c)) != 0) {
		free(data);
		return rc;
	}
	struct compose_result res;
	rc = compose_run(c->sp, data, len, strcmp(path, "-") ? path : "<stdin>", key, opt_dry, &c->conf,
			 cli_progress, (void *)"composed", &res, err, sizeof err);
	cli_progress_done();
	free(data);
	if (rc < 0) {
		cli_err("%s", err);
		return errno == EINVAL ? EX_DATAERR : EX_IOERR;
	}
	if (res.existed && opt_quiet)
		return 0;
	if (res.existed)
		cli_warn("key '%s' was used before: message %s with %zu receivers exists; nothing written", key,
			 res.msgid, res.receivers);
	printf("%s %zu receivers%s\n", res.msgid, res.receivers, opt_dry && !res.existed ? " (dry run: nothing written)" : "");
	return 0;
}

/* ---- dispatch ---- */

struct command {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *help;
	const char *summary;
};

/* What root opens for a command before it becomes the spool's owner: the
 * files the command line names (the options, with their short ones, whose
 * value is a file, and whether the one argument is one) and
 * smtp.password_file for the commands that send. */
static const struct root_reads {
	int (*fn)(struct cli *, int, char **);
	const struct option *opts;
	const char *shortopts;
	const char *file_opts;
	bool file_arg;
	bool sends;
} root_reads[] = {
	{cmd_enqueue, enqueue_opts, "nq", "TH", false, false},
	{cmd_compose, compose_opts, "nq", "", true, false},
	{cmd_send, NULL, NULL, NULL, false, true},
	{cmd_resend, NULL, NULL, NULL, false, true},
	{cmd_resend_failed, NULL, NULL, NULL, false, true},
};

static const struct command commands[] = {
	{"init", cmd_init, init_help, "create the spool"},
	{"enqueue", cmd_enqueue, enqueue_help, "write one receiver into new/"},
	{"compose", cmd_compose, compose_help, "render one message for many users, each in their language"},
	{"list", cmd_list, list_help, "list receivers (the admin list)"},
	{"show", cmd_show, show_help, "show one receiver in detail"},
	{"send", cmd_send, send_help, "one pass: send everything in new/"},
	{"resend", cmd_resend, resend_help, "send receivers again, whatever their status"},
	{"resend-failed", cmd_resend_failed, resend_failed_help, "resend failed receivers within the limit"},
	{"delete-receivers", cmd_delete_receivers, delete_receivers_help, "delete receivers older than DAYS"},
	{"delete-messages-without-receivers", cmd_delete_messages, delete_messages_help,
	 "delete message records no receiver points to"},
	{"stats", cmd_stats, stats_help, "counts and ages per status, type, domain"},
	{"hold", cmd_hold, hold_help, "put receivers aside: no sender sends them"},
	{"release", cmd_release, release_help, "put held receivers back into new/"},
	{"delete", cmd_delete, delete_help, "delete receivers by id or filter"},
};

static void main_usage(FILE *f)
{
	fprintf(f, "Usage: msgspool [-c FILE] [--spool DIR] COMMAND [ARGS]\n"
		   "A crash-safe, file-based outgoing-mail queue.\n\n"
		   "Options:\n"
		   "  -c, --config FILE  configuration (default $MSGSPOOL_CONFIG, then %s)\n"
		   "  --spool DIR        use this spool instead of the configured one\n"
		   "  -h, --help         this help; COMMAND --help for a command's\n"
		   "  --version          print the version\n\nCommands:\n",
		CONF_DEFAULT_PATH);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-34s %s\n", commands[i].name, commands[i].summary);
}

/* Root's pass over a command's arguments before it becomes the spool's
 * owner: each file they name is opened now, with root's rights (the
 * command parses them again, on the original argv: getopt reorders its
 * copy). */
static void root_read(struct cli *c, const struct command *command, int argc, char **argv)
{
	const struct root_reads *cmd = NULL;
	for (size_t i = 0; i < sizeof root_reads / sizeof *root_reads; i++)
		if (root_reads[i].fn == command->fn)
			cmd = &root_reads[i];
	if (cmd && cmd->sends)
		owner_read_secrets(c);
	if (!cmd || !cmd->opts)
		return;
	char **copy = util_xmalloc(((size_t)argc + 1) * sizeof *copy);
	memcpy(copy, argv, ((size_t)argc + 1) * sizeof *copy);
	int o, saved = opterr;
	opterr = 0; /* the command itself says what is wrong */
	optind = 0;
	while ((o = getopt_long(argc, copy, cmd->shortopts, cmd->opts, NULL)) != -1)
		if (o > 0 && o < 256 && optarg && strchr(cmd->file_opts, o))
			owner_preopen(c, optarg);
	if (cmd->file_arg && optind + 1 == argc)
		owner_preopen(c, copy[optind]);
	opterr = saved;
	free(copy);
}

/* Loads -c, then $MSGSPOOL_CONFIG, then the default file if it exists,
 * else the built-in defaults. */
static int load_conf(struct cli *c)
{
	char err[512];
	const char *path = conf_locate(c->conf_path);
	if (!path)
		cli_err("warning: no configuration file (%s): using built-in defaults (spool %s)",
			CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL);
	conf_defaults(&c->conf);
	if (path && conf_load(&c->conf, path, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EX_CONFIG;
	}
	if (c->spool_override) {
		free(c->conf.spool);
		c->conf.spool = util_strdup(c->spool_override);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"spool", required_argument, 0, 's'},
		{"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	struct cli c = {.prog = "msgspool"};
	/* What we write into the spool must be readable by the daemon (0640
	 * as created, the group through the setgid directories), whatever the
	 * caller's umask: a 0600 receiver would be stuck in new/. */
	umask(umask(0) & 027);
	signal(SIGIO, SIG_IGN); /* a read lease broken while spool_claim_settled holds it */
	bool version = false;
	int o;
	/* '+' stops at the command so its options are its own. */
	while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': c.conf_path = optarg; break;
		case 's': c.spool_override = optarg; break;
		case 'h': main_usage(stdout); return 0;
		case 'V': version = true; break;
		default: main_usage(stderr); return EX_USAGE;
		}
	}
	if (version) {
		int rc = load_conf(&c);
		if (rc == 0)
			conf_print_version(stdout, "msgspool", &c.conf);
		conf_free(&c.conf);
		return rc;
	}
	if (optind >= argc) {
		main_usage(stderr);
		return EX_USAGE;
	}
	const char *name = argv[optind];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(commands[i].name, name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "msgspool: unknown command '%s'\n", name);
		main_usage(stderr);
		return EX_USAGE;
	}
	int cargc = argc - optind;
	char **cargv = argv + optind;
	if (cli_want_help(cargc, cargv)) {
		fputs(cmd->help, stdout);
		return 0;
	}
	int rc = load_conf(&c);
	if (rc == 0 && cmd->fn != cmd_init && geteuid() == 0) {
		root_read(&c, cmd, cargc, cargv);
		cli_user(&c); /* the person, for SPOOL/audit, before root becomes the owner */
		rc = owner_become(&c); /* root acts as the spool's owner: nothing it writes is root's */
	}
	if (rc == 0) {
		optind = 0; /* glibc: 0 re-initialises getopt, dropping main's '+' mode */
		rc = cmd->fn(&c, cargc, cargv);
	}
	if (c.spool_open)
		spool_close(c.sp);
	conf_free(&c.conf);
	if (fflush(stdout) != 0 && rc == 0) {
		cli_err("writing output: %s", strerror(errno));
		rc = EX_IOERR;
	}
	return rc;
}
