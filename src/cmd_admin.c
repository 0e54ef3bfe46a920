/* cmd_admin: the admin for a shell: list, show and delete-receivers
 * (delete-messages-without-receivers is cmd_messages.c). It reads and
 * changes the spool only through spool, query and receiver calls, never
 * deletes from active/ or corrupt/, and prints a producer's text only
 * escaped. delete-receivers with no list cache reads every file: it asks
 * the kernel for them a few thousand ahead of its scan while they come
 * from the disk (spool_prefetch), unlinks in the directories' order and
 * flushes each directory and the audit once at the end. Rules:
 * msgspool(1), spool-layout/README.md, SECURITY.md. */
#include "config.h"
#include "cli.h"
#include "json.h"
#include "query.h"
#include "receiver.h"
#include "spool_batch.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- list ---- */

const char list_help[] =
	"Usage: msgspool list [--status S]... [--sent WHEN] [--type T] [--search Q]\n"
	"                     [--since DATE] [--until DATE] [--limit N] [--json]\n"
	"Lists message receivers, newest first.\n"
	"  --status S    not_sent, active, failed, error, sent, corrupt or held (repeatable)\n"
	"  --sent WHEN   today, 7d, month, year, none or any\n"
	"  --type T      context type\n"
	"  --search Q    text in id, user, address or subject\n"
	"  --since DATE, --until DATE   created on or after / before (YYYY-MM-DD or RFC 3339)\n"
	"  --limit N     show at most N rows\n"
	"  --json        a JSON array of objects: the file's keys plus id and status\n";

/* s as it may reach a terminal: itself, or with control characters escaped
 * into tmp (valid until the next call with the same tmp). */
static const char *printable(const char *s, struct util_buf *tmp)
{
	if (!s || util_is_printable(s, strlen(s)))
		return s;
	tmp->len = 0;
	util_buf_add_escaped(tmp, s, strlen(s));
	return util_buf_cstr(tmp);
}

static void put_spaces(struct util_buf *b, int n)
{
	for (; n > 0; n--)
		util_buf_putc(b, ' ');
}

/* Appends s in w columns (w <= 0: as it is), the last one an ellipsis
 * when cut, padded when asked. A listing is built in memory, a line per
 * write: printf and a call per character were most of a long listing. */
static void put_cell(struct util_buf *b, const char *s, int w, bool pad)
{
	int cols = 0;
	const unsigned char *start = (const unsigned char *)(s ? s : ""), *p = start;
	bool cut = false;
	while (*p && (w <= 0 || cols < w)) {
		const unsigned char *q = p + 1;
		while ((*q & 0xc0) == 0x80)
			q++;
		if (w > 0 && cols == w - 1 && *q) {
			cut = true;
			break;
		}
		cols++;
		p = q;
	}
	util_buf_add(b, start, (size_t)(p - start));
	if (cut) {
		util_buf_adds(b, "…");
		cols++;
	}
	if (pad)
		put_spaces(b, w - cols);
}

/* A number right-aligned in w columns. */
static void put_num(struct util_buf *b, long long v, int w)
{
	char d[24], *p = d + sizeof d;
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	put_spaces(b, w - (int)(d + sizeof d - p));
	util_buf_add(b, p, (size_t)(d + sizeof d - p));
}

static int utf8_width(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* The local minute last formatted: sorted rows share it, and localtime +
 * strftime per cell was a tenth of a long listing. */
struct minute_memo {
	time_t from;	/* the minute's first second; valid while from <= t < from + 60 */
	char s[32];
};

static const char *fmt_minute(struct minute_memo *m, time_t t)
{
	if (!t)
		return "-";
	if (m->s[0] && t >= m->from && t - m->from < 60)
		return m->s;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(m->s, sizeof m->s, "%Y-%m-%d %H:%M", &tm);
	m->from = t - tm.tm_sec;
	return m->s;
}

/* Column widths: on a terminal the row fits it (the subject is cut
 * first); piped, as wide as the data, so columns still line up for awk. */
struct widths {
	int id, subj, to, user, type;
	bool cut;	/* on a terminal; piped rows are whole */
	bool narrow;	/* no counts, sent time or type */
};

static int text_width(const char *s, struct util_buf *tmp)
{
	return s ? utf8_width(printable(s, tmp)) : 1;
}

static void list_widths(const struct query_result *res, size_t n, int width, struct widths *w)
{
	struct util_buf tmp = {0};
	*w = (struct widths){2, 7, 2, 4, 4, false, false};
	for (size_t i = 0; i < n; i++) {
		const struct query_row *r = &res->rows[i];
		int iw = (int)strlen(r->id), sw = r->err ? 22 : text_width(r->subject, &tmp);
		int tw = text_width(r->send_to, &tmp), uw = text_width(r->user, &tmp), yw = text_width(r->type, &tmp);
		w->id = iw > w->id ? iw : w->id;
		w->subj = sw > w->subj ? (sw < 80 ? sw : 80) : w->subj;
		w->to = tw > w->to ? (tw < 60 ? tw : 60) : w->to;
		w->user = uw > w->user ? (uw < 40 ? uw : 40) : w->user;
		w->type = yw > w->type ? (yw < 40 ? yw : 40) : w->type;
	}
	util_buf_free(&tmp);
	if (!width)
		return;
	w->cut = true;
	/* Address and user get at most a share of what the fixed columns
	 * leave each, the type up to 16, the subject the rest; when that is under 10,
	 * the counts, the sent time and the type go (a narrow terminal). */
	int to = w->to, user = w->user, type = w->type;
	for (int narrow = 0; narrow < 2; narrow++) {
		int avail = width - w->id - (narrow ? 16 + 8 + 5 : 53 + 9);
		w->to = to < avail / 3 ? to : avail / 3 > 8 ? avail / 3 : 8;
		w->user = user < avail / 6 ? user : avail / 6 > 4 ? avail / 6 : 4;
		w->type = narrow ? 0 : type < 16 ? type : 16;
		w->subj = avail - w->to - w->user - w->type;
		w->narrow = narrow;
		if (w->subj >= 10)
			return;
	}
	w->subj = 10;
}

/* A cell cut to w on a terminal; piped, whole and padded to w. */
static void put_col(struct util_buf *b, const char *s, int w, bool pad, bool cut)
{
	if (cut) {
		put_cell(b, s, w, pad);
		return;
	}
	util_buf_adds(b, s);
	if (pad)
		put_spaces(b, w - utf8_width(s));
}

static void list_row(struct util_buf *line, const struct query_row *r, const struct widths *w,
		     struct minute_memo *cm, struct minute_memo *sm, struct util_buf *tmp)
{
	put_cell(line, r->id, w->id, true);
	util_buf_putc(line, ' ');
	put_cell(line, r->err ? "-" : fmt_minute(cm, r->created), 16, true);
	util_buf_putc(line, ' ');
	put_col(line, r->err ? "(unreadable; see show)" : printable(r->subject, tmp), w->subj, true, w->cut);
	util_buf_putc(line, ' ');
	put_col(line, r->send_to ? printable(r->send_to, tmp) : "-", w->to, true, w->cut);
	util_buf_putc(line, ' ');
	put_col(line, r->user ? printable(r->user, tmp) : "-", w->user, !w->narrow, w->cut);
	if (w->narrow) {
		util_buf_putc(line, ' ');
		util_buf_adds(line, spool_status_name(r->status));
		util_buf_putc(line, '\n');
		return;
	}
	util_buf_putc(line, ' ');
	put_num(line, r->failed_count, 6);
	util_buf_putc(line, ' ');
	put_num(line, r->success_count, 7);
	util_buf_putc(line, ' ');
	put_cell(line, spool_status_name(r->status), 8, true);
	util_buf_putc(line, ' ');
	put_cell(line, fmt_minute(sm, r->sent_at), 16, true);
	util_buf_putc(line, ' ');
	put_col(line, r->type ? printable(r->type, tmp) : "-", w->type, false, w->cut);
	util_buf_putc(line, '\n');
}

/* width: the terminal's, 0 when piped (known before a pager takes stdout). */
static void list_table(const struct query_result *res, size_t limit, int width)
{
	struct minute_memo cm = {0}, sm = {0};
	struct util_buf tmp = {0}, line = {0};
	size_t n = limit && limit < res->n ? limit : res->n;
	struct widths w;
	list_widths(res, n, width, &w);
	put_cell(&line, "ID", w.id, true);
	util_buf_adds(&line, " CREATED          ");
	put_cell(&line, "SUBJECT", w.subj, true);
	util_buf_putc(&line, ' ');
	put_cell(&line, "TO", w.to, true);
	util_buf_putc(&line, ' ');
	put_cell(&line, "USER", w.user, true);
	util_buf_adds(&line, w.narrow ? " STATUS\n" : " FAILED SUCCESS STATUS   SENT             TYPE\n");
	for (size_t i = 0; i < n; i++) {
		list_row(&line, &res->rows[i], &w, &cm, &sm, &tmp);
		if (line.len >= 65536) {
			fwrite(line.data, 1, line.len, stdout);
			line.len = 0;
		}
	}
	if (line.len)
		fwrite(line.data, 1, line.len, stdout);
	util_buf_free(&line);
	util_buf_free(&tmp);
	printf("%zu message receiver%s%s\n", res->n, res->n == 1 ? "" : "s",
	       n < res->n ? " (more not shown; see --limit)" : "");
}

int cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {CLI_FILTER_OPTIONS, {"limit", required_argument, 0, 'n'},
					     {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
	struct query_filter f = {.now = time(NULL)};
	bool json = false;
	size_t limit = 0;
	int o, r;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((r = cli_filter_option("list", o, optarg, &f)) < 0)
			return EX_USAGE;
		if (r)
			continue;
		if (o == 'j')
			json = true;
		else if (o == 'n') {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1)
				return cli_usage_error("list", "--limit takes a number > 0");
			limit = (size_t)v;
		} else
			return cli_usage_error("list", "unknown option");
	}
	if (optind != argc)
		return cli_usage_error("list", "unexpected argument: %s", argv[optind]);
	if ((r = cli_open_spool(c)) != 0)
		return r;
	struct query_result res;
	if ((r = cli_query(c, &f, &res)) != 0)
		return r;
	if (json) {
		size_t n = limit && limit < res.n ? limit : res.n;
		fputc('[', stdout);
		for (size_t i = 0; i < n; i++) {
			if (i)
				fputs(",\n", stdout);
			json_receiver(stdout, c->sp, c->conf.max_receiver_size, res.rows[i].status, res.rows[i].id);
		}
		fputs("]\n", stdout);
	} else {
		/* A pager on a terminal (a spool lists long), plain when piped. */
		struct cli_pager pg;
		int width = cli_terminal_width();
		cli_pager_begin(&pg);
		list_table(&res, limit, width);
		cli_pager_end(&pg);
	}
	query_result_free(&res);
	return 0;
}

/* ---- show ---- */

const char show_help[] =
	"Usage: msgspool show [--json] ID\n"
	"Shows one receiver: every field, both bodies and each error with its SMTP\n"
	"transcript. ID may be any unique prefix of a receiver id.\n";

static void show_field(const char *label, const char *value)
{
	struct util_buf tmp = {0};
	if (value)
		printf("%-22s %s\n", label, printable(value, &tmp));
	util_buf_free(&tmp);
}

/* A body or a YAML block: lines and tabs kept, other controls escaped. */
static void show_block(const char *title, const char *body)
{
	struct util_buf b = {0};
	util_buf_add_escaped_text(&b, body, strlen(body));
	printf("\n── %s ──\n", title);
	fputs(util_buf_cstr(&b), stdout);
	if (b.len && b.data[b.len - 1] != '\n')
		fputc('\n', stdout);
	util_buf_free(&b);
}

static void show_human(struct cli *c, const struct receiver *r, enum spool_status st)
{
	char created[64], sent[64], buf[64];
	cli_fmt_local(r->created, created, sizeof created);
	cli_fmt_local(r->sent_at, sent, sizeof sent);
	char path[4096];
	spool_path(c->sp, st, r->id, path, sizeof path);
	show_field("id", r->id);
	show_field("status", spool_status_name(st));
	show_field("file", path);
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
	struct ydoc_node *rest = ydoc_map_without(r->doc, shown, sizeof shown / sizeof *shown);
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
		struct util_buf tmp = {0};
		printf("at:    %s\n", printable(at && at->kind == YDOC_SCALAR ? at->str : "?", &tmp));
		printf("error: %s\n", printable(msg && msg->kind == YDOC_SCALAR ? msg->str : "?", &tmp));
		util_buf_free(&tmp);
		if (tr && tr->kind == YDOC_SCALAR && tr->len) {
			struct util_buf t = {0};
			util_buf_add_escaped_text(&t, tr->str, strlen(tr->str));
			printf("transcript:\n");
			const char *p = util_buf_cstr(&t);
			while (*p) {
				const char *nl = strchr(p, '\n');
				size_t l = nl ? (size_t)(nl - p) : strlen(p);
				printf("  %.*s\n", (int)l, p);
				p += l + (nl ? 1 : 0);
			}
			util_buf_free(&t);
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
			return cli_usage_error("show", "unknown option");
		json = true;
	}
	if (optind + 1 != argc)
		return cli_usage_error("show", "give exactly one receiver id");
	enum spool_status st;
	char id[SPOOL_ID_MAX + 1], err[RECEIVER_ERRLEN];
	int rc = cli_resolve(c, argv[optind], &st, id, sizeof id);
	if (rc)
		return rc;
	struct receiver r;
	if (query_load(c->sp, c->conf.max_receiver_size, st, id, &r, err, sizeof err) < 0) {
		cli_err("%s", err);
		return EX_DATAERR;
	}
	if (json) {
		json_receiver(stdout, c->sp, c->conf.max_receiver_size, st, id);
		fputc('\n', stdout);
	} else {
		/* A pager on a terminal (transcripts are long), plain when piped. */
		struct cli_pager pg;
		cli_pager_begin(&pg);
		show_human(c, &r, st);
		cli_pager_end(&pg);
	}
	receiver_free(&r);
	return 0;
}

/* ---- delete-receivers ---- */

const char delete_receivers_help[] =
	"Usage: msgspool delete-receivers [--status S]... [--dry-run] [--quiet] DAYS\n"
	"Deletes receivers created before midnight DAYS days ago, in every status\n"
	"(Devilry's rule), and prints \"Deleting N message receivers.\". Receivers\n"
	"being sent (active/) and files in corrupt/ are never deleted.\n"
	"  --status S     only in these statuses (not_sent, failed, error, sent)\n"
	"  -n, --dry-run  count only\n"
	"  -q, --quiet    print nothing when nothing is to be deleted\n";

/* The receivers to delete: "S<id>\0" each (S the status digit), nothing
 * else of the rows kept. */
struct doomed {
	struct util_buf rows;
	size_t n;
};

static int keep_doomed(const struct query_row *row, void *vd)
{
	struct doomed *d = vd;
	if (util_buf_putc(&d->rows, (char)('0' + row->status)) < 0 ||
	    util_buf_add(&d->rows, row->id, strlen(row->id) + 1) < 0)
		return -1;
	d->n++;
	return 0;
}

/* How far ahead of the scan the files are asked for: 16 MB of 4 KB
 * receivers, whatever the spool's size. */
#define READ_AHEAD 4096

/* With no list cache it may trust, the scan reads every file: then the
 * files are asked for READ_AHEAD ahead of it (spool_prefetch). With one,
 * most come from the cache, and reading them ahead would be waste. */
static bool scan_reads_all(struct spool *sp)
{
	struct stat s;
	int fd = spool_cache_open(sp, &s);
	if (fd < 0)
		return true;
	close(fd);
	return false;
}

/* The read-ahead of a scan, kept on only while the scan reads from the
 * disk: files already in memory (a tmpfs, a second run) need none, and
 * asking for them would cost three system calls each for nothing. */
struct read_ahead {
	struct spool_prefetch pf;
	long inblock;	/* the process's blocks read from the disk so far */
};

static long blocks_read(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_inblock : 0;
}

/* query_each's progress, every 1024 files: the line on a terminal, and the
 * next files asked for when the last 1024 read from the disk (a 4 KB file
 * is 8 blocks; 512 blocks: at least one file in 16). */
static void scan_progress(size_t scanned, void *vra)
{
	struct read_ahead *ra = vra;
	long now = blocks_read();
	cli_progress(scanned, (void *)"scanning");
	if (now - ra->inblock >= 512)
		spool_prefetch_to(&ra->pf, scanned, scanned + READ_AHEAD);
	ra->inblock = now;
}

/* The retention job's one summary line in SPOOL/audit (its count in ID's
 * place), none when it deleted nothing: a line a receiver would bury the
 * hand-made deletes under thousands a night. */
static void audit_retention(struct cli *c, size_t gone)
{
	struct spool_audit_batch b;
	char n[32];
	if (!gone)
		return;
	snprintf(n, sizeof n, "%zu", gone);
	cli_audit_begin(c, &b);
	cli_audit(c, &b, "delete-receivers", n, NULL);
	cli_audit_end(c, &b);
}

int cmd_delete_receivers(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"status", required_argument, 0, 'S'}, CLI_DRY_QUIET_OPTIONS, {0, 0, 0, 0}};
	struct query_filter f = {.now = time(NULL)};
	bool dry = false, quiet = false;
	int o, r;
	while ((o = getopt_long(argc, argv, "nq", opts, NULL)) != -1) {
		if (cli_dry_quiet_option(o, &dry, &quiet))
			continue;
		if ((r = cli_filter_option("delete-receivers", o, optarg, &f)) < 0)
			return EX_USAGE;
		if (!r)
			return cli_usage_error("delete-receivers", "unknown option");
	}
	if (optind + 1 != argc)
		return cli_usage_error("delete-receivers", "give the number of days");
	char *end;
	long days = strtol(argv[optind], &end, 10);
	if (*end || days < 0 || days > 100000)
		return cli_usage_error("delete-receivers", "'%s' is not a number of days", argv[optind]);
	if (f.status_mask & SPOOL_UNTOUCHED_MASK)
		return cli_usage_error("delete-receivers", "receivers in active/ and corrupt/ are never deleted");
	if (!f.status_mask)
		f.status_mask = SPOOL_ALL_MASK & ~SPOOL_UNTOUCHED_MASK;
	if ((r = dry ? cli_open_spool(c) : cli_check_owner(c)) != 0)
		return r;
	f.until = util_local_start(f.now, UTIL_DAY, (int)days);
	f.unsorted = true; /* deleted in the directories' order */
	f.forget_matches = !dry;
	struct doomed d = {{0}, 0};
	struct read_ahead ra = {.inblock = blocks_read()};
	spool_prefetch_begin(c->sp, scan_reads_all(c->sp) ? f.status_mask : 0, &ra.pf);
	spool_prefetch_to(&ra.pf, 0, READ_AHEAD);
	f.progress = scan_progress;
	f.progress_ctx = &ra;
	r = query_each(c->sp, c->conf.max_receiver_size, &f, keep_doomed, &d, NULL);
	spool_prefetch_end(&ra.pf);
	cli_progress_done();
	if (r < 0) {
		cli_err("%s: cannot scan spool: %s", c->conf.spool, strerror(errno));
		util_buf_free(&d.rows);
		return EX_IOERR;
	}
	if (d.n || !quiet)
		printf(dry ? "Would delete %zu message receivers.\n" : "Deleting %zu message receivers.\n", d.n);
	fflush(stdout);
	int rc = 0;
	size_t i = 0, gone = 0;
	for (const char *p = d.rows.data; !dry && i < d.n; p += strlen(p) + 1) {
		enum spool_status st = (enum spool_status)(p[0] - '0');
		/* Moved meanwhile (resent, say): not ours to delete any more. */
		if (spool_remove(c->sp, st, p + 1) == 0)
			gone++;
		else if (errno != ENOENT) {
			cli_err("%s/%s.yaml: cannot delete: %s", spool_status_dir(st), p + 1, strerror(errno));
			rc = EX_IOERR;
		}
		if (++i % 1024 == 0)
			cli_progress(i, (void *)"deleting");
	}
	cli_progress_done();
	/* One flush per directory at the end makes every unlink durable, as a
	 * flush after each would. */
	for (int s = 0; !dry && s < SPOOL_NSTATUS; s++)
		if (f.status_mask & (1u << s))
			spool_sync(c->sp, (enum spool_status)s);
	audit_retention(c, gone);
	util_buf_free(&d.rows);
	return rc;
}
