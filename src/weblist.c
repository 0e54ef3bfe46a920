/* weblist: the list of message receivers (GET /receivers): the query
 * parameters (status, sent, type, q, sort, page, checked exactly as the
 * commands' options), the sidebar with a count per choice, the table with
 * a checkbox per row, the paging links and the action buttons. Rows and
 * counts come from one query_each (the list cache), never from the files;
 * only the rows up to the page's end are kept, never the whole spool. */
#include "config.h"
#include "webpages.h"
#include "webhtml.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sort_cols[] = {"id", "created", "subject", "user", "failed", "success",
					"status", "sent", "type"};
#define NCOLS (sizeof sort_cols / sizeof *sort_cols)

static const char *str0(const char *s)
{
	return s ? s : "";
}

static int cmp_ll(long long a, long long b)
{
	return a < b ? -1 : a > b;
}

/* Compares two rows on column col (an index into sort_cols), -1 for the
 * default; ties and the default: newest first, as query_run sorts. */
static int row_cmp(const struct query_row *x, const struct query_row *y, int col)
{
	int c = 0;
	switch (col) {
	case 0: c = strcmp(x->id, y->id); break;
	case 1: c = cmp_ll(x->created, y->created); break;
	case 2: c = strcmp(str0(x->subject), str0(y->subject)); break;
	case 3: c = strcmp(str0(x->user), str0(y->user)); break;
	case 4: c = cmp_ll(x->failed_count, y->failed_count); break;
	case 5: c = cmp_ll(x->success_count, y->success_count); break;
	case 6: c = strcmp(spool_status_name(x->status), spool_status_name(y->status)); break;
	case 7: c = cmp_ll(x->sent_at, y->sent_at); break;
	case 8: c = strcmp(str0(x->type), str0(y->type)); break;
	}
	return c ? c : x->created != y->created ? cmp_ll(y->created, x->created) : strcmp(y->id, x->id);
}

static bool sort_valid(const char *sort)
{
	bool desc = sort[0] == '-';
	for (size_t i = 0; i < NCOLS; i++)
		if (!strcmp(sort + desc, sort_cols[i]))
			return true;
	return false;
}

/* The first second from which a sent choice matches. The rule is
 * query.c's; every choice but any and none is "sent at or after a moment",
 * found by bisection, so a count costs a comparison per row, not a local
 * midnight per row. */
static time_t sent_from(enum query_sent s, time_t now)
{
	struct query_filter f = {.now = now, .sent = s};
	time_t lo = 1, hi = now + 1;
	while (lo < hi) {
		time_t mid = lo + (hi - lo) / 2;
		if (query_sent_match(&f, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* An empty parameter is an absent one (a form's "any" choice). */
static const char *arg(struct web_req *r, const char *key)
{
	const char *v = webhttp_arg(r, key);
	return v && *v ? v : NULL;
}

/* The scan's state: the rows up to the page's end kept in a heap whose
 * root is the last of them, so a row that comes later in the order costs
 * one comparison and is not kept. */
struct pick {
	struct weblist *l;
	struct query_filter f;	/* l->f with a sent choice as the moment `from` */
	time_t from, sent_from[6];
	int col;
	bool desc;
	size_t want;		/* rows up to the page's end */
	size_t cap;
	bool nomem;
};

static int order(const struct pick *p, const struct query_row *x, const struct query_row *y)
{
	int c = row_cmp(x, y, p->col);
	return p->desc ? -c : c;
}

static int order_r(const void *a, const void *b, void *p)
{
	return order(p, a, b);
}

/* A copy of a row whose strings are in one block at id. */
static int row_copy(struct query_row *dst, const struct query_row *src)
{
	const char *s[] = {src->id, src->subject, src->user, src->send_to, src->type, src->err};
	size_t n = 0;
	for (int i = 0; i < 6; i++)
		n += s[i] ? strlen(s[i]) + 1 : 0;
	char *block = malloc(n), *at = block;
	if (!block)
		return -1;
	*dst = *src;
	char **d[] = {&dst->id, &dst->subject, &dst->user, &dst->send_to, &dst->type, &dst->err};
	for (int i = 0; i < 6; i++) {
		*d[i] = s[i] ? strcpy(at, s[i]) : NULL;
		at += s[i] ? strlen(s[i]) + 1 : 0;
	}
	return 0;
}

static void sift_down(struct pick *p, size_t i)
{
	struct query_row *h = p->l->rows;
	size_t n = p->l->nrows;
	for (;;) {
		size_t m = i, a = 2 * i + 1, b = a + 1;
		if (a < n && order(p, &h[a], &h[m]) > 0)
			m = a;
		if (b < n && order(p, &h[b], &h[m]) > 0)
			m = b;
		if (m == i)
			return;
		struct query_row t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Keeps row when it is among the first `want` in the order. */
static int keep(struct pick *p, const struct query_row *row)
{
	struct weblist *l = p->l;
	if (l->nrows == p->want) {
		if (!p->want || order(p, row, &l->rows[0]) >= 0)
			return 0;
		free(l->rows[0].id);
		if (row_copy(&l->rows[0], row) < 0)
			return -1;
		sift_down(p, 0);
		return 0;
	}
	if (query_rows_room(&l->rows, &p->cap, l->nrows) < 0)
		return -1;
	size_t i = l->nrows;
	if (row_copy(&l->rows[i], row) < 0)
		return -1;
	l->nrows++;
	for (; i && order(p, &l->rows[i], &l->rows[(i - 1) / 2]) > 0; i = (i - 1) / 2) {
		struct query_row t = l->rows[i];
		l->rows[i] = l->rows[(i - 1) / 2];
		l->rows[(i - 1) / 2] = t;
	}
	return 0;
}

static void count_type(struct weblist_counts *c, const char *type)
{
	size_t k = 0;
	while (k < c->ntypes && strcmp(c->types[k].name, type))
		k++;
	if (k == c->ntypes && k < WEBLIST_TYPES && (c->types[k].name = strdup(type)))
		c->ntypes++;
	if (k < c->ntypes)
		c->types[k].n++;
	else
		c->other_types++;
}

static int type_cmp(const void *a, const void *b)
{
	return strcmp(((const struct weblist_type *)a)->name, ((const struct weblist_type *)b)->name);
}

static void count_row(struct pick *p, const struct query_row *row)
{
	struct weblist_counts *c = &p->l->counts;
	c->total++;
	c->status[row->status]++;
	c->sent[QUERY_SENT_NONE] += !row->sent_at;
	for (int s = QUERY_SENT_TODAY; row->sent_at && s <= QUERY_SENT_YEAR; s++)
		c->sent[s] += row->sent_at >= p->sent_from[s];
	if (row->type)
		count_type(c, row->type);
}

/* query_each's callback: every row counted, the matching ones picked. */
static int pick_row(const struct query_row *row, void *vp)
{
	struct pick *p = vp;
	count_row(p, row);
	if ((p->from && (!row->sent_at || row->sent_at < p->from)) || !query_row_match(&p->f, row))
		return 0;
	p->l->nsel++;
	if (keep(p, row) < 0) {
		p->nomem = true;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Reads and checks the parameters into l; the first one wrong, or NULL. */
static const char *parse(struct web_req *r, struct weblist *l)
{
	l->status = arg(r, "status");
	l->sent = arg(r, "sent");
	l->type = arg(r, "type");
	l->q = arg(r, "q");
	l->sort = arg(r, "sort");
	const char *page = arg(r, "page");
	enum spool_status st;
	char *end = NULL;
	l->page = page ? strtol(page, &end, 10) : 1;
	const char *bad = l->status && spool_status_parse(l->status, &st) < 0 ? "status: not a status"
			: l->sent && query_parse_sent(l->sent, &l->f.sent) < 0 ? "sent: not one of today, 7d, month, year, none, any"
			: l->sort && !sort_valid(l->sort) ? "sort: not a column"
			: (page && *end) || l->page < 1 || l->page > 100000000 ? "page: not a page number"
			: l->q && strlen(l->q) > 200 ? "q: longer than 200 bytes" : NULL;
	if (!bad && l->status)
		l->f.status_mask = 1u << st;
	l->f.type = l->type;
	l->f.search = l->q;
	return bad;
}

static void pick_init(struct pick *p, struct weblist *l)
{
	memset(p, 0, sizeof *p);
	p->l = l;
	p->f = l->f;
	p->desc = l->sort && l->sort[0] == '-';
	p->col = -1;
	for (size_t i = 0; l->sort && i < NCOLS; i++)
		if (!strcmp(l->sort + p->desc, sort_cols[i]))
			p->col = (int)i;
	p->want = (size_t)l->page * WEBLIST_PAGE;
	for (int s = QUERY_SENT_TODAY; s <= QUERY_SENT_YEAR; s++)
		p->sent_from[s] = sent_from((enum query_sent)s, l->f.now);
	/* A sent choice as a moment found once: query.c's rule per row takes a
	 * local midnight (mktime) per row. */
	if (p->f.sent >= QUERY_SENT_TODAY && p->f.sent <= QUERY_SENT_YEAR) {
		p->from = p->sent_from[p->f.sent];
		p->f.sent = QUERY_SENT_ANY;
	}
}

int weblist_query(struct web_req *r, struct weblist *l)
{
	memset(l, 0, sizeof *l);
	l->f.now = time(NULL);
	const char *bad = parse(r, l);
	if (bad) {
		webhttp_error(r, MHD_HTTP_BAD_REQUEST, bad);
		return -1;
	}
	struct pick p;
	pick_init(&p, l);
	struct query_filter every = {.now = l->f.now, .unsorted = true};
	if (query_each(r->app->sp, r->app->conf.max_receiver_size, &every, pick_row, &p, NULL) < 0) {
		int e = errno;
		weblist_free(l);
		if (p.nomem) {
			webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
			return -1;
		}
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "The spool cannot be read; see the log.");
		webhttp_log("%s: cannot scan the spool: %s", r->app->conf.spool, strerror(e));
		return -1;
	}
	l->counts.sent[QUERY_SENT_ANY] = l->counts.total;
	/* The sidebar's types by name, as the admin's filters are: not in the
	 * order the directories happened to be read. */
	qsort(l->counts.types, l->counts.ntypes, sizeof *l->counts.types, type_cmp);
	if (l->nrows > 1)
		qsort_r(l->rows, l->nrows, sizeof *l->rows, order_r, &p);
	/* Only the page's rows stay. */
	size_t first = (size_t)(l->page - 1) * WEBLIST_PAGE;
	size_t skip = first < l->nrows ? first : l->nrows;
	for (size_t i = 0; i < skip; i++)
		free(l->rows[i].id);
	if (skip) /* rows is NULL when nothing matched */
		memmove(l->rows, l->rows + skip, (l->nrows - skip) * sizeof *l->rows);
	l->nrows -= skip;
#ifdef __GLIBC__
	if (skip > 10 * WEBLIST_PAGE)
		malloc_trim(0); /* a deep page's rows, freed in small blocks: back to the system */
#endif
	return 0;
}

void weblist_free(struct weblist *l)
{
	for (size_t i = 0; i < l->nrows; i++)
		free(l->rows[i].id);
	for (size_t k = 0; k < l->counts.ntypes; k++)
		free(l->counts.types[k].name);
	free(l->rows);
	l->rows = NULL;
	l->nrows = l->nsel = l->counts.ntypes = 0;
}

/* ---- rendering ---- */

/* The list's URL with one parameter changed (value NULL: removed); the
 * page goes back to 1 unless it is the one changed. */
static void list_url(struct util_buf *b, const struct weblist *l, const char *key, const char *value)
{
	const char *keys[] = {"status", "sent", "type", "q", "sort", "page"};
	char page[24];
	snprintf(page, sizeof page, "%ld", l->page);
	const char *vals[] = {l->status, l->sent, l->type, l->q, l->sort, l->page > 1 ? page : NULL};
	char sep = '?';
	util_buf_adds(b, "/receivers");
	for (size_t i = 0; i < 6; i++) {
		const char *v = !strcmp(keys[i], key) ? value : i == 5 ? NULL : vals[i];
		if (!v)
			continue;
		util_buf_adds(b, sep == '?' ? "?" : "&amp;");
		sep = '&';
		util_buf_adds(b, keys[i]);
		util_buf_putc(b, '=');
		webhtml_url(b, v);
	}
}

static void choice(struct util_buf *b, const struct weblist *l, const char *key, const char *value,
		   const char *label, size_t n, bool on)
{
	util_buf_adds(b, on ? "<li class=\"on\"><a href=\"" : "<li><a href=\"");
	list_url(b, l, key, value);
	util_buf_adds(b, "\">");
	webhtml_esc(b, label);
	util_buf_printf(b, "</a> <span class=\"n\">%zu</span></li>", n);
}

static void sidebar(struct util_buf *b, const struct weblist *l, const struct weblist_counts *c)
{
	static const char *const sent_v[] = {"any", "today", "7d", "month", "year", "none"};
	static const char *const sent_l[] = {"Any date", "Today", "Past 7 days", "This month", "This year", "No date"};
	util_buf_adds(b, "<aside><h2>Filter</h2><h3>By status</h3><ul>");
	choice(b, l, "status", NULL, "All", c->total, !l->status);
	for (int s = 0; s < SPOOL_NSTATUS; s++) {
		const char *name = spool_status_name((enum spool_status)s);
		choice(b, l, "status", name, name, c->status[s], l->status && !strcmp(l->status, name));
	}
	util_buf_adds(b, "</ul><h3>By sent datetime</h3><ul>");
	for (int s = 0; s < 6; s++)
		choice(b, l, "sent", s ? sent_v[s] : NULL, sent_l[s], c->sent[s],
		       s ? l->sent && !strcmp(l->sent, sent_v[s]) : !l->sent || !strcmp(l->sent, "any"));
	util_buf_adds(b, "</ul><h3>By type</h3><ul>");
	choice(b, l, "type", NULL, "All", c->total, !l->type);
	for (size_t k = 0; k < c->ntypes; k++)
		choice(b, l, "type", c->types[k].name, c->types[k].name, c->types[k].n,
		       l->type && !strcmp(l->type, c->types[k].name));
	if (c->other_types)
		util_buf_printf(b, "<li>%zu more in other types</li>", c->other_types);
	util_buf_adds(b, "</ul></aside>");
}

static void search_bar(struct util_buf *b, const struct weblist *l)
{
	util_buf_adds(b, "<form class=\"bar\" method=\"get\" action=\"/receivers\">"
			 "<input type=\"search\" name=\"q\" placeholder=\"id, user, address or subject\" value=\"");
	webhtml_esc(b, str0(l->q));
	util_buf_adds(b, "\">");
	const char *keep[] = {"status", l->status, "sent", l->sent, "type", l->type, "sort", l->sort};
	for (size_t i = 0; i < 8; i += 2) {
		if (!keep[i + 1])
			continue;
		util_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", keep[i]);
		webhtml_esc(b, keep[i + 1]);
		util_buf_adds(b, "\">");
	}
	util_buf_printf(b, "<button type=\"submit\">Search</button><span>%zu result%s</span></form>",
			l->nsel, l->nsel == 1 ? "" : "s");
}

static void col_head(struct util_buf *b, const struct weblist *l, const char *col, const char *label)
{
	bool on = l->sort && !strcmp(l->sort + (l->sort[0] == '-'), col);
	bool desc = on && l->sort[0] == '-';
	char next[16];
	snprintf(next, sizeof next, "%s%s", on && !desc ? "-" : "", col);
	util_buf_adds(b, "<th><a href=\"");
	list_url(b, l, "sort", next);
	util_buf_printf(b, "\">%s%s</a></th>", label, on ? (desc ? " ▼" : " ▲") : "");
}

static void row_html(struct util_buf *b, const struct query_row *row)
{
	util_buf_adds(b, "<tr><td><input type=\"checkbox\" name=\"id\" value=\"");
	webhtml_esc(b, row->id);
	util_buf_adds(b, "\"></td><td class=\"id\"><a href=\"/receivers/");
	webhtml_url(b, row->id);
	util_buf_adds(b, "\">");
	webhtml_esc(b, row->id);
	util_buf_adds(b, "</a></td><td class=\"t\">");
	webhtml_time(b, row->err ? 0 : row->created);
	util_buf_adds(b, "</td><td class=\"subj\">");
	webhtml_esc(b, row->err ? "(unreadable; see the detail)" : row->subject);
	util_buf_adds(b, "</td><td>");
	webhtml_esc(b, row->user ? row->user : "-");
	util_buf_printf(b, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
			   "<td><span class=\"st st-%s\">%s</span></td><td class=\"t\">", row->failed_count,
			row->success_count, spool_status_name(row->status), spool_status_name(row->status));
	webhtml_time(b, row->sent_at);
	util_buf_adds(b, "</td><td>");
	webhtml_esc(b, row->type ? row->type : "-");
	util_buf_adds(b, "</td></tr>\n");
}

static void table(struct web_req *r, const struct weblist *l)
{
	struct util_buf *b = &r->out;
	util_buf_adds(b, "<form method=\"post\" action=\"/receivers/resend\">");
	webhtml_csrf(b, r->sess->csrf);
	util_buf_adds(b, "<div class=\"bar\"><button type=\"submit\">Send message to selected receivers</button>"
			 "<button type=\"submit\" formaction=\"/receivers/hold\">Hold selected receivers</button>"
			 "<button type=\"submit\" formaction=\"/receivers/release\">Release selected receivers</button>"
			 "<button type=\"submit\" class=\"danger\" formaction=\"/receivers/delete\">"
			 "Delete selected receivers</button></div><table><thead><tr>"
			 "<th><input type=\"checkbox\" id=\"select-all\" title=\"Select all\"></th>");
	static const char *const labels[] = {"ID", "Created", "Subject", "User", "Failed", "Success",
					     "Status", "Sent", "Type"};
	for (size_t i = 0; i < NCOLS; i++)
		col_head(b, l, sort_cols[i], labels[i]);
	util_buf_adds(b, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < l->nrows; i++)
		row_html(b, &l->rows[i]);
	util_buf_adds(b, "</tbody></table></form>");
}

static void pager(struct util_buf *b, const struct weblist *l, size_t pages)
{
	char num[24];
	util_buf_adds(b, "<div class=\"pages\">");
	if (l->page > 1) {
		snprintf(num, sizeof num, "%ld", l->page - 1);
		util_buf_adds(b, "<a href=\"");
		list_url(b, l, "page", num);
		util_buf_adds(b, "\">« Previous</a>");
	}
	util_buf_printf(b, "<span>Page %ld of %zu</span>", l->page, pages ? pages : 1);
	if ((size_t)l->page < pages) {
		snprintf(num, sizeof num, "%ld", l->page + 1);
		util_buf_adds(b, "<a href=\"");
		list_url(b, l, "page", num);
		util_buf_adds(b, "\">Next »</a>");
	}
	util_buf_adds(b, "</div>");
}

void webpages_list(struct web_req *r)
{
	struct weblist l;
	if (weblist_query(r, &l) < 0)
		return;
	size_t pages = (l.nsel + WEBLIST_PAGE - 1) / WEBLIST_PAGE;
	webhtml_head(&r->out, "Message receivers", r->user, r->sess->csrf);
	util_buf_adds(&r->out, "<div class=\"layout\"><div class=\"content\">");
	search_bar(&r->out, &l);
	table(r, &l);
	pager(&r->out, &l, pages);
	util_buf_adds(&r->out, "</div>");
	sidebar(&r->out, &l, &l.counts);
	util_buf_adds(&r->out, "</div>");
	webhtml_foot(&r->out);
	weblist_free(&l);
}
