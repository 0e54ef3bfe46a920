/* msgspool: the command line for producers and sysadmins. One small
 * function per command; the work is done by the modules below. */
#include "config.h"
#include "cli.h"
#include "deliver.h"
#include "json.h"
#include "query.h"
#include "receiver.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

void cli_err(const char *fmt, ...)
{
	va_list ap;
	fputs("msgspool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	fputs("msgspool: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_open_spool(struct cli *c)
{
	if (c->spool_open)
		return 0;
	if (spool_open(&c->sp, c->conf.spool) < 0) {
		cli_err("%s: cannot open spool: %s (run 'msgspool init' first?)", c->conf.spool,
			strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_NOPERM;
	}
	c->spool_open = true;
	return 0;
}

/* Long options end in a help entry; each command parses its own. */
static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "msgspool %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'msgspool %s --help'.\n", cmd);
	return EX_USAGE;
}

static void fmt_local(time_t t, char *buf, size_t n)
{
	struct tm tm;
	if (!t) {
		snprintf(buf, n, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

/* ---- init ---- */

static const char init_help[] =
	"Usage: msgspool init [--group GROUP]\n"
	"Creates the spool directory tree named by the configuration.\n"
	"  --group GROUP  producers in GROUP may write tmp/, new/ and messages/\n";

static int cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"group", required_argument, 0, 'g'}, {0, 0, 0, 0}};
	gid_t gid = (gid_t)-1;
	int o;
	while ((o = getopt_long(argc, argv, "g:", opts, NULL)) != -1) {
		if (o != 'g')
			return usage_error("init", "unknown option");
		struct group *g = getgrnam(optarg);
		if (!g)
			return usage_error("init", "no such group: %s", optarg);
		gid = g->gr_gid;
	}
	if (optind != argc)
		return usage_error("init", "unexpected argument: %s", argv[optind]);
	if (spool_init(c->conf.spool, gid) < 0) {
		cli_err("%s: cannot create spool: %s", c->conf.spool, strerror(errno));
		return EX_CANTCREAT;
	}
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
	"  --reply-to ADDR   Reply-To address\n";

static int read_file_arg(const char *path, size_t max, char **out)
{
	size_t len;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
	if (fd < 0)
		return -1;
	int rc = util_read_fd(fd, max, out, &len);
	int e = errno;
	close(fd);
	errno = e;
	if (rc == 0 && (memchr(*out, '\0', len) || !util_utf8_valid(*out, len))) {
		free(*out);
		errno = EILSEQ;
		return -1;
	}
	return rc;
}

static int enqueue_write(struct cli *c, struct receiver *r)
{
	struct util_buf out = {0};
	if (receiver_save(r, &out) < 0) {
		cli_err("cannot write receiver: %s", strerror(errno));
		return EX_SOFTWARE;
	}
	int rc = cli_open_spool(c);
	if (rc == 0 && spool_enqueue(&c->sp, r->id, out.data, out.len) < 0) {
		cli_err("%s: cannot enqueue %s: %s", c->conf.spool, r->id, strerror(errno));
		rc = errno == EEXIST ? EX_DATAERR : EX_IOERR;
	}
	util_buf_free(&out);
	if (rc == 0)
		printf("%s\n", r->id);
	return rc;
}

static int enqueue_stdin(struct cli *c)
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
	rc = enqueue_write(c, &r);
	receiver_free(&r);
	return rc;
}

static int cmd_enqueue(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, 0, 't'}, {"subject", required_argument, 0, 's'},
		{"text-file", required_argument, 0, 'T'}, {"html-file", required_argument, 0, 'H'},
		{"user", required_argument, 0, 'u'}, {"language", required_argument, 0, 'l'},
		{"type", required_argument, 0, 'y'}, {"from", required_argument, 0, 'f'},
		{"reply-to", required_argument, 0, 'r'}, {0, 0, 0, 0}};
	const char *to = NULL, *subject = NULL, *textf = NULL, *htmlf = NULL;
	const char *user = NULL, *lang = NULL, *type = NULL, *from = NULL, *reply = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': to = optarg; break;
		case 's': subject = optarg; break;
		case 'T': textf = optarg; break;
		case 'H': htmlf = optarg; break;
		case 'u': user = optarg; break;
		case 'l': lang = optarg; break;
		case 'y': type = optarg; break;
		case 'f': from = optarg; break;
		case 'r': reply = optarg; break;
		default: return usage_error("enqueue", "unknown option");
		}
	}
	if (optind < argc && !strcmp(argv[optind], "-") && optind + 1 == argc && !to && !subject)
		return enqueue_stdin(c);
	if (optind != argc)
		return usage_error("enqueue", "unexpected argument: %s", argv[optind]);
	if (!to || !subject || (!textf && !htmlf))
		return usage_error("enqueue", "--to, --subject and a body (--text-file or --html-file) are required");
	if (textf && htmlf && !strcmp(textf, "-") && !strcmp(htmlf, "-"))
		return usage_error("enqueue", "only one body can come from standard input");

	char id[SPOOL_ID_MAX + 1], err[RECEIVER_ERRLEN];
	char *text = NULL, *html = NULL;
	if ((textf && read_file_arg(textf, c->conf.max_receiver_size, &text) < 0) ||
	    (htmlf && read_file_arg(htmlf, c->conf.max_receiver_size, &html) < 0)) {
		cli_err("%s: %s", (textf && !text) ? textf : htmlf,
			errno == EILSEQ ? "not UTF-8 text" : strerror(errno));
		free(text);
		return EX_NOINPUT;
	}
	struct receiver r;
	spool_new_id(id, sizeof id);
	receiver_init(&r, id, to, subject, time(NULL));
	const char *keys[] = {"text", "html", "user", "language", "context_type", "message_type", "from", "reply_to"};
	const char *vals[] = {text, html, user, lang, type, "email", from, reply};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (vals[i])
			receiver_set(&r, keys[i], vals[i]);
	int rc = receiver_validate(&r, "<options>", err, sizeof err);
	if (rc < 0) {
		cli_err("%s", err);
		rc = EX_DATAERR;
	} else {
		rc = enqueue_write(c, &r);
	}
	receiver_free(&r);
	free(text);
	free(html);
	return rc;
}

/* ---- list ---- */

static const char list_help[] =
	"Usage: msgspool list [--status S]... [--sent WHEN] [--type T] [--search Q]\n"
	"                     [--since DATE] [--until DATE] [--limit N] [--json]\n"
	"Lists message receivers, newest first.\n"
	"  --status S    not_sent, active, failed, error, sent or corrupt (repeatable)\n"
	"  --sent WHEN   today, 7d, month, year, none or any\n"
	"  --type T      context type\n"
	"  --search Q    text in id, user, address or subject\n"
	"  --since DATE, --until DATE   created on or after / before (YYYY-MM-DD or RFC 3339)\n"
	"  --limit N     show at most N rows\n"
	"  --json        a JSON array of objects: the file's keys plus id and status\n";

static int parse_date(const char *s, time_t *out)
{
	if (util_time_parse(s, out) == 0)
		return 0;
	struct tm tm = {0};
	char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	*out = mktime(&tm);
	return 0;
}

/* Parses the filter options shared by list, resend and cleanup. Returns 1
 * when opt was one of them, 0 when not, -1 on a bad value. */
static int filter_option(const char *cmd, int o, const char *arg, struct query_filter *f)
{
	enum spool_status st;
	switch (o) {
	case 'S':
		if (spool_status_parse(arg, &st) < 0)
			return usage_error(cmd, "unknown status '%s'", arg), -1;
		f->status_mask |= 1u << st;
		return 1;
	case 'W':
		if (query_parse_sent(arg, &f->sent) < 0)
			return usage_error(cmd, "--sent takes today, 7d, month, year, none or any"), -1;
		return 1;
	case 'Y': f->type = arg; return 1;
	case 'Q': f->search = arg; return 1;
	case 'A':
	case 'B':
		if (parse_date(arg, o == 'A' ? &f->since : &f->until) < 0)
			return usage_error(cmd, "'%s' is not a date (YYYY-MM-DD or RFC 3339)", arg), -1;
		return 1;
	}
	return 0;
}

#define FILTER_OPTIONS \
	{"status", required_argument, 0, 'S'}, {"sent", required_argument, 0, 'W'}, \
	{"type", required_argument, 0, 'Y'}, {"search", required_argument, 0, 'Q'}, \
	{"since", required_argument, 0, 'A'}, {"until", required_argument, 0, 'B'}

static int terminal_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	if (cols && atoi(cols) > 20)
		return atoi(cols);
	if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 0; /* not a terminal: never cut */
}

/* Prints at most `w` display columns of UTF-8 s, padded to w. */
static void print_cell(const char *s, int w, bool pad)
{
	int cols = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p && (w <= 0 || cols < w)) {
		const unsigned char *q = p + 1;
		while ((*q & 0xc0) == 0x80)
			q++;
		if (w > 0 && cols == w - 1 && *q) {
			fputs("…", stdout);
			cols++;
			p = q;
			while (*p)
				p++;
			break;
		}
		fwrite(p, 1, (size_t)(q - p), stdout);
		cols++;
		p = q;
	}
	while (pad && w > 0 && cols++ < w)
		fputc(' ', stdout);
}

static int utf8_width(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void list_table(const struct query_result *res, size_t limit)
{
	int width = terminal_width();
	size_t n = limit && limit < res->n ? limit : res->n;
	/* Fixed columns, then subject and user share what the terminal has left. */
	int idw = 2, subjw = 7, userw = 4;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(res->rows[i].id);
		if (l > idw)
			idw = l;
	}
	if (width) {
		int rest = width - (idw + 1 + 16 + 1 + 6 + 1 + 7 + 1 + 8 + 1 + 16 + 1 + 16 + 1);
		subjw = rest * 2 / 3 > 10 ? rest * 2 / 3 : 10;
		userw = rest - subjw > 6 ? rest - subjw - 1 : 6;
	} else {
		/* Piped: as wide as the data, so columns still line up for awk. */
		for (size_t i = 0; i < n; i++) {
			int sw = utf8_width(res->rows[i].err ? "(unreadable; see show)" : res->rows[i].subject);
			int uw = utf8_width(res->rows[i].user ? res->rows[i].user : "-");
			subjw = sw > subjw ? (sw < 80 ? sw : 80) : subjw;
			userw = uw > userw ? (uw < 40 ? uw : 40) : userw;
		}
	}
	printf("%-*s %-16s ", idw, "ID", "CREATED");
	print_cell("SUBJECT", subjw, true);
	fputc(' ', stdout);
	print_cell("USER", userw, true);
	printf(" %6s %7s %-8s %-16s %s\n", "FAILED", "SUCCESS", "STATUS", "SENT", "TYPE");
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &res->rows[i];
		char created[32], sent[32];
		fmt_local(r->created, created, sizeof created);
		fmt_local(r->sent_at, sent, sizeof sent);
		printf("%-*s %-16s ", idw, r->id, r->err ? "-" : created);
		print_cell(r->err ? "(unreadable; see show)" : r->subject, subjw, true);
		fputc(' ', stdout);
		print_cell(r->user ? r->user : "-", userw, true);
		printf(" %6lld %7lld %-8s %-16s %s\n", r->failed_count, r->success_count,
		       spool_status_name(r->status), sent, r->type ? r->type : "-");
	}
	printf("%zu message receiver%s%s\n", res->n, res->n == 1 ? "" : "s",
	       n < res->n ? " (more not shown; see --limit)" : "");
}

static void json_receiver(struct cli *c, const struct query_row *row)
{
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (query_load(&c->sp, c->conf.max_receiver_size, row->status, row->id, &r, err, sizeof err) < 0) {
		printf("{\"id\":");
		json_string(stdout, row->id);
		printf(",\"status\":\"%s\",\"unreadable\":", spool_status_name(row->status));
		json_string(stdout, err);
		printf("}");
		return;
	}
	printf("{\"id\":");
	json_string(stdout, row->id);
	printf(",\"status\":\"%s\"", spool_status_name(row->status));
	for (size_t k = 0; k < r.doc->n; k++) {
		const char *key = ydoc_key(r.doc, k);
		if (!strcmp(key, "id") || !strcmp(key, "status"))
			continue;
		fputc(',', stdout);
		json_string(stdout, key);
		fputc(':', stdout);
		json_value(stdout, ydoc_val(r.doc, k));
	}
	printf("}");
	receiver_free(&r);
}

static int cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {FILTER_OPTIONS, {"limit", required_argument, 0, 'n'},
					     {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
	struct query_filter f = {.now = time(NULL)};
	bool json = false;
	size_t limit = 0;
	int o, r;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((r = filter_option("list", o, optarg, &f)) < 0)
			return EX_USAGE;
		if (r)
			continue;
		if (o == 'j')
			json = true;
		else if (o == 'n') {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1)
				return usage_error("list", "--limit takes a number > 0");
			limit = (size_t)v;
		} else
			return usage_error("list", "unknown option");
	}
	if (optind != argc)
		return usage_error("list", "unexpected argument: %s", argv[optind]);
	if ((r = cli_open_spool(c)) != 0)
		return r;
	struct query_result res;
	if (query_run(&c->sp, c->conf.max_receiver_size, &f, &res) < 0) {
		cli_err("%s: cannot scan spool: %s", c->conf.spool, strerror(errno));
		query_result_free(&res);
		return EX_IOERR;
	}
	if (json) {
		size_t n = limit && limit < res.n ? limit : res.n;
		fputc('[', stdout);
		for (size_t i = 0; i < n; i++) {
			if (i)
				fputs(",\n", stdout);
			json_receiver(c, &res.rows[i]);
		}
		fputs("]\n", stdout);
	} else {
		list_table(&res, limit);
	}
	query_result_free(&res);
	return 0;
}

/* ---- show ---- */

static const char show_help[] =
	"Usage: msgspool show [--json] ID\n"
	"Shows one receiver: every field, both bodies and each error with its SMTP\n"
	"transcript. ID may be any unique prefix of a receiver id.\n";

/* Resolves an id prefix, printing the error; returns a sysexits code. */
static int resolve(struct cli *c, const char *prefix, enum spool_status *st, char *id, size_t idsz)
{
	int r = cli_open_spool(c);
	if (r)
		return r;
	r = spool_find(&c->sp, prefix, st, id, idsz);
	if (r == SPOOL_NOT_FOUND) {
		cli_err("%s: no receiver with this id or id prefix", prefix);
		return EX_NOINPUT;
	}
	if (r == SPOOL_AMBIGUOUS) {
		cli_err("%s: id prefix matches more than one receiver; give more of the id", prefix);
		return EX_USAGE;
	}
	if (r < 0) {
		cli_err("%s: cannot scan spool: %s", c->conf.spool, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

static void show_field(const char *label, const char *value)
{
	if (value)
		printf("%-22s %s\n", label, value);
}

static void show_block(const char *title, const char *body)
{
	printf("\n── %s ──\n", title);
	fputs(body, stdout);
	if (*body && body[strlen(body) - 1] != '\n')
		fputc('\n', stdout);
}

static void show_human(struct cli *c, const struct receiver *r, enum spool_status st)
{
	char created[64], sent[64], buf[64];
	fmt_local(r->created, created, sizeof created);
	fmt_local(r->sent_at, sent, sizeof sent);
	show_field("id", r->id);
	show_field("status", spool_status_name(st));
	show_field("send_to", r->send_to);
	show_field("subject", r->subject);
	show_field("user", r->user);
	show_field("language", r->language);
	show_field("context_type", r->context_type);
	show_field("message_type", r->message_type);
	show_field("message", r->message);
	show_field("from", r->from);
	show_field("reply_to", r->reply_to);
	show_field("created", created);
	show_field("sent_at", r->sent_at ? sent : NULL);
	snprintf(buf, sizeof buf, "%lld (resend limit %ld)", r->failed_count, c->conf.resend_limit);
	show_field("sending_failed_count", buf);
	snprintf(buf, sizeof buf, "%lld", r->success_count);
	show_field("sending_success_count", buf);
	/* Anything else in the file, metadata first, as YAML. */
	static const char *const shown[] = {
		"msgspool", "send_to", "subject", "user", "language", "context_type", "message_type",
		"message", "from", "reply_to", "created", "sent_at", "sending_failed_count",
		"sending_success_count", "text", "html", "errors"};
	struct ydoc_node *rest = ydoc_map();
	for (size_t k = 0; k < r->doc->n; k++) {
		const char *key = ydoc_key(r->doc, k);
		bool skip = false;
		for (size_t j = 0; j < sizeof shown / sizeof *shown; j++)
			skip |= !strcmp(key, shown[j]);
		if (!skip)
			ydoc_set(rest, key, ydoc_clone(ydoc_val(r->doc, k)));
	}
	if (rest->n) {
		struct util_buf y = {0};
		if (ydoc_emit(rest, &y) == 0)
			show_block("other fields", util_buf_cstr(&y));
		util_buf_free(&y);
	}
	ydoc_free(rest);
	if (r->text)
		show_block("text", r->text);
	if (r->html)
		show_block("html", r->html);
	size_t nerr = r->errors ? r->errors->n : 0;
	for (size_t i = 0; i < nerr; i++) {
		const struct ydoc_node *e = r->errors->items[i];
		const struct ydoc_node *at = ydoc_get(e, "at"), *msg = ydoc_get(e, "error");
		const struct ydoc_node *tr = ydoc_get(e, "transcript");
		char title[128];
		snprintf(title, sizeof title, "error %zu of %zu", i + 1, nerr);
		printf("\n── %s ──\n", title);
		printf("at:    %s\n", at && at->kind == YDOC_SCALAR ? at->str : "?");
		printf("error: %s\n", msg && msg->kind == YDOC_SCALAR ? msg->str : "?");
		if (tr && tr->kind == YDOC_SCALAR && tr->len) {
			printf("transcript:\n");
			const char *p = tr->str;
			while (*p) {
				const char *nl = strchr(p, '\n');
				size_t l = nl ? (size_t)(nl - p) : strlen(p);
				printf("  %.*s\n", (int)l, p);
				p += l + (nl ? 1 : 0);
			}
		}
	}
}

static int cmd_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
	bool json = false;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'j')
			return usage_error("show", "unknown option");
		json = true;
	}
	if (optind + 1 != argc)
		return usage_error("show", "give exactly one receiver id");
	enum spool_status st;
	char id[SPOOL_ID_MAX + 1], err[RECEIVER_ERRLEN];
	int rc = resolve(c, argv[optind], &st, id, sizeof id);
	if (rc)
		return rc;
	struct receiver r;
	if (query_load(&c->sp, c->conf.max_receiver_size, st, id, &r, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EX_DATAERR;
	}
	if (json) {
		struct query_row row = {.status = st};
		snprintf(row.id, sizeof row.id, "%s", id);
		json_receiver(c, &row);
		fputc('\n', stdout);
	} else {
		show_human(c, &r, st);
	}
	receiver_free(&r);
	return 0;
}


/* ---- sending: send, resend, resend-failed ---- */

struct sender {
	struct cli *c;
	struct deliver d;
	bool verbose;
	bool progress;		/* a progress line on stderr (a terminal) */
	size_t done, total;
	size_t counts[DELIVER_IOERR + 1];
};

static void cli_log(void *ctx, int prio, const char *fmt, ...)
{
	struct sender *s = ctx;
	if (prio >= LOG_INFO && !s->verbose)
		return;
	va_list ap;
	if (s->progress)
		fputs("\r\033[K", stderr);
	fputs("msgspool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int sender_start(struct sender *s, struct cli *c, bool verbose)
{
	char err[512] = "";
	memset(s, 0, sizeof *s);
	s->c = c;
	s->verbose = verbose;
	s->progress = isatty(2);
	int rc = cli_open_spool(c);
	if (rc)
		return rc;
	s->d.sp = &c->sp;
	s->d.conf = &c->conf;
	s->d.log = cli_log;
	s->d.log_ctx = s;
	s->d.t = transport_open(&c->conf, err, sizeof err);
	if (!s->d.t) {
		cli_err("%s", err);
		return EX_CONFIG;
	}
	return 0;
}

static void sender_stop(struct sender *s)
{
	if (s->progress && s->total)
		fputs("\r\033[K", stderr);
	if (s->d.t)
		transport_free(s->d.t);
}

static void progress(struct sender *s)
{
	if (s->progress && s->total > 1)
		fprintf(stderr, "\r\033[Ksending %zu/%zu", s->done, s->total);
}

struct idlist {
	char (*ids)[SPOOL_ID_MAX + 1];
	size_t n, cap;
};

static int collect_id(const char *id, void *ctx)
{
	struct idlist *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		void *p = realloc(l->ids, cap * sizeof *l->ids);
		if (!p)
			return -1;
		l->ids = p;
		l->cap = cap;
	}
	snprintf(l->ids[l->n++], SPOOL_ID_MAX + 1, "%s", id);
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Attempts every id of a status in id order (creation order for our ids).
 * Stops at the first session failure: the server is down, and the rest stay
 * where they are instead of each waiting for a timeout. */
static int send_status(struct sender *s, enum spool_status st, long long max_failed, bool *server_down)
{
	struct idlist l = {0};
	if (spool_scan(&s->c->sp, st, collect_id, &l) < 0) {
		cli_err("%s: cannot scan %s/: %s", s->c->conf.spool, spool_status_dir(st), strerror(errno));
		free(l.ids);
		return EX_IOERR;
	}
	if (l.n > 1)
		qsort(l.ids, l.n, sizeof *l.ids, cmp_id);
	s->total += l.n;
	int rc = 0;
	for (size_t i = 0; i < l.n && !*server_down; i++) {
		struct deliver_report rep;
		enum deliver_result r = deliver_one(&s->d, st, l.ids[i], max_failed, &rep);
		s->counts[r]++;
		s->done++;
		progress(s);
		if (r == DELIVER_IOERR)
			rc = EX_IOERR;
		if (r == DELIVER_DEFERRED && rep.session_failed)
			*server_down = true;
	}
	free(l.ids);
	return rc;
}

static const char send_help[] =
	"Usage: msgspool send [--verbose]\n"
	"One pass: finishes what a crash left in active/, sends every receiver in\n"
	"new/, prints a summary and exits (for cron, or a host without msgspoold).\n"
	"When the mail server cannot be used (refused, TLS, AUTH), the receiver in\n"
	"hand is put back unchanged, the pass stops and the exit code is 75.\n"
	"  -v, --verbose   a line per attempt on stderr\n";

static int cmd_send(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"verbose", no_argument, 0, 'v'}, {0, 0, 0, 0}};
	bool verbose = false;
	int o;
	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (o != 'v')
			return usage_error("send", "unknown option");
		verbose = true;
	}
	if (optind != argc)
		return usage_error("send", "unexpected argument: %s", argv[optind]);
	struct sender s;
	int rc = sender_start(&s, c, verbose);
	bool down = false;
	if (rc == 0) {
		if (deliver_recover(&s.d) < 0)
			rc = EX_IOERR;
		int r = send_status(&s, SPOOL_NEW, -1, &down);
		rc = rc ? rc : r;
	}
	sender_stop(&s);
	if (s.d.t || s.total) {
		printf("%zu sent, %zu failed, %zu error, %zu quarantined\n", s.counts[DELIVER_SENT],
		       s.counts[DELIVER_FAILED], s.counts[DELIVER_ERROR], s.counts[DELIVER_QUARANTINED]);
	}
	if (s.counts[DELIVER_DEFERRED] && !down && rc == 0)
		rc = EX_TEMPFAIL; /* young files left for another look */
	if (rc == 0 && down) {
		cli_err("the mail server could not be reached; the rest of new/ is left for the next run");
		rc = EX_TEMPFAIL;
	}
	return rc;
}

static const char resend_help[] =
	"Usage: msgspool resend [--verbose] ID...\n"
	"Sends the given receivers again, whatever their status (like the admin's\n"
	"resend action). Each ID may be a unique prefix.\n";

static int cmd_resend(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"verbose", no_argument, 0, 'v'}, {0, 0, 0, 0}};
	bool verbose = false;
	int o;
	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (o != 'v')
			return usage_error("resend", "unknown option");
		verbose = true;
	}
	if (optind == argc)
		return usage_error("resend", "give at least one receiver id");
	/* Resolve every id first: a typo sends nothing. */
	size_t n = (size_t)(argc - optind);
	char (*ids)[SPOOL_ID_MAX + 1] = calloc(n, sizeof *ids);
	enum spool_status *sts = calloc(n, sizeof *sts);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = resolve(c, argv[optind + (int)i], &sts[i], ids[i], sizeof ids[i]);
		if (rc == 0 && sts[i] == SPOOL_CORRUPT) {
			cli_err("%s: in corrupt/: fix the file, then mv it to new/", ids[i]);
			rc = EX_DATAERR;
		}
	}
	struct sender s;
	if (rc == 0)
		rc = sender_start(&s, c, verbose);
	else
		memset(&s, 0, sizeof s);
	bool any_failed = false;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct deliver_report rep;
		enum deliver_result r = sts[i] == SPOOL_ACTIVE ? DELIVER_BUSY
				       : deliver_one(&s.d, sts[i], ids[i], -1, &rep);
		printf("%s: %s\n", ids[i], r == DELIVER_BUSY ? "busy (another sender has it)"
					  : r == DELIVER_DEFERRED ? "deferred (the mail server could not be used; see above)"
					  : deliver_result_name(r));
		any_failed |= r != DELIVER_SENT;
		if (r == DELIVER_IOERR)
			rc = EX_IOERR;
	}
	sender_stop(&s);
	free(ids);
	free(sts);
	return rc ? rc : any_failed ? EX_TEMPFAIL : 0;
}

static const char resend_failed_help[] =
	"Usage: msgspool resend-failed [--verbose]\n"
	"Sends every receiver in failed/ whose failed count is within the resend\n"
	"limit, then prints how many were resent and how many exceeded the limit.\n"
	"Receivers in error/ are never resent by this command.\n";

struct over_ctx {
	struct cli *c;
	size_t over;
};

static int count_over(const char *id, void *vctx)
{
	struct over_ctx *o = vctx;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (query_load(&o->c->sp, o->c->conf.max_receiver_size, SPOOL_FAILED, id, &r, err, sizeof err) == 0) {
		if (r.failed_count > o->c->conf.resend_limit)
			o->over++;
		receiver_free(&r);
	}
	return 0;
}

static int cmd_resend_failed(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"verbose", no_argument, 0, 'v'}, {0, 0, 0, 0}};
	bool verbose = false;
	int o;
	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (o != 'v')
			return usage_error("resend-failed", "unknown option");
		verbose = true;
	}
	if (optind != argc)
		return usage_error("resend-failed", "unexpected argument: %s", argv[optind]);
	struct sender s;
	int rc = sender_start(&s, c, verbose);
	bool down = false;
	if (rc == 0)
		rc = send_status(&s, SPOOL_FAILED, c->conf.resend_limit, &down);
	sender_stop(&s);
	if (rc == 0 || rc == EX_IOERR) {
		struct over_ctx oc = {c, 0};
		spool_scan(&c->sp, SPOOL_FAILED, count_over, &oc);
		size_t resent = s.counts[DELIVER_SENT] + s.counts[DELIVER_FAILED] + s.counts[DELIVER_ERROR];
		/* Devilry's own words, kept so scripts that read them go on working. */
		printf("%zu messages were automatically resent.\n", resent);
		printf("%zu messages has exceeded the retry limit (current limit: %ld)\n", oc.over, c->conf.resend_limit);
	}
	if (rc == 0 && down) {
		cli_err("the mail server could not be reached; the rest of failed/ is left for the next run");
		rc = EX_TEMPFAIL;
	}
	return rc;
}

/* ---- dispatch ---- */

struct command {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *help;
	const char *summary;
};

static const struct command commands[] = {
	{"init", cmd_init, init_help, "create the spool"},
	{"enqueue", cmd_enqueue, enqueue_help, "write one receiver into new/"},
	{"list", cmd_list, list_help, "list receivers (the admin list)"},
	{"show", cmd_show, show_help, "show one receiver in detail"},
	{"send", cmd_send, send_help, "one pass: send everything in new/"},
	{"resend", cmd_resend, resend_help, "send receivers again, whatever their status"},
	{"resend-failed", cmd_resend_failed, resend_failed_help, "resend failed receivers within the limit"},
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

/* Loads -c, then $MSGSPOOL_CONFIG, then the default file if it exists,
 * else the built-in defaults. */
static int load_conf(struct cli *c)
{
	char err[512];
	const char *path = c->conf_path ? c->conf_path : getenv("MSGSPOOL_CONFIG");
	bool explicit_path = path && *path;
	if (!explicit_path) {
		path = CONF_DEFAULT_PATH;
		if (access(path, F_OK) < 0)
			path = NULL;
	}
	conf_defaults(&c->conf);
	if (path && conf_load(&c->conf, path, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EX_CONFIG;
	}
	if (c->spool_override) {
		free(c->conf.spool);
		c->conf.spool = strdup(c->spool_override);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"spool", required_argument, 0, 's'},
		{"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	struct cli c = {.prog = "msgspool"};
	int o;
	/* '+' stops at the command so its options are its own. */
	while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': c.conf_path = optarg; break;
		case 's': c.spool_override = optarg; break;
		case 'h': main_usage(stdout); return 0;
		case 'V': printf("msgspool %s\n", PACKAGE_VERSION); return 0;
		default: main_usage(stderr); return EX_USAGE;
		}
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
	if (want_help(cargc, cargv)) {
		fputs(cmd->help, stdout);
		return 0;
	}
	int rc = load_conf(&c);
	if (rc == 0) {
		optind = 1;
		rc = cmd->fn(&c, cargc, cargv);
	}
	if (c.spool_open)
		spool_close(&c.sp);
	conf_free(&c.conf);
	if (fflush(stdout) != 0 && rc == 0) {
		cli_err("writing output: %s", strerror(errno));
		rc = EX_IOERR;
	}
	return rc;
}
