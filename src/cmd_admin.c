/* cmd_admin: the admin for a shell: list, show, and (below) cleanup and
 * statistics. */
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ---- list ---- */

const char list_help[] =
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

int cmd_list(struct cli *c, int argc, char **argv)
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

const char show_help[] =
	"Usage: msgspool show [--json] ID\n"
	"Shows one receiver: every field, both bodies and each error with its SMTP\n"
	"transcript. ID may be any unique prefix of a receiver id.\n";

/* Resolves an id prefix, printing the error; returns a sysexits code. */
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

int cmd_show(struct cli *c, int argc, char **argv)
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


