/* webdash: the dashboard (GET /): receivers per status, the age of the
 * oldest one still waiting to be sent (not_sent and failed), and an inline
 * SVG chart of receivers sent and failed per hour over the last 48 hours.
 * Sent hours come from sent_at; failed hours from the time the file in
 * failed/ or error/ was last written (its last failed attempt), which
 * spool_stat gives without reading the file. */
#include "config.h"
#include "webpages.h"
#include "webhtml.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define HOURS 48

struct dash {
	size_t status[SPOOL_NSTATUS], total;
	time_t oldest_waiting;
	size_t sent[HOURS], failed[HOURS];
	time_t start;	/* the first hour's first second */
};

struct tally {
	struct web_req *r;
	time_t now;
	struct dash *d;
};

/* query_each's callback: one row counted. */
static int tally(const struct query_row *row, void *vt)
{
	struct tally *t = vt;
	struct dash *d = t->d;
	d->total++;
	d->status[row->status]++;
	bool waiting = row->status == SPOOL_NEW || row->status == SPOOL_FAILED;
	if (waiting && !row->err && row->created && (!d->oldest_waiting || row->created < d->oldest_waiting))
		d->oldest_waiting = row->created;
	if (row->sent_at >= d->start && row->sent_at <= t->now)
		d->sent[(row->sent_at - d->start) / 3600]++;
	struct stat st;
	if ((row->status == SPOOL_FAILED || row->status == SPOOL_ERROR) && !row->err &&
	    spool_stat(t->r->app->sp, row->status, row->id, &st) == 0 && st.st_mtime >= d->start &&
	    st.st_mtime <= t->now)
		d->failed[(st.st_mtime - d->start) / 3600]++;
	return 0;
}

static void card(struct util_buf *b, const char *label, size_t n, const char *status)
{
	util_buf_adds(b, "<a class=\"card\" href=\"/receivers");
	if (status) {
		util_buf_adds(b, "?status=");
		util_buf_adds(b, status);
	}
	util_buf_printf(b, "\"><b>%zu</b>%s</a>", n, label);
}

static void age(struct util_buf *b, time_t oldest, time_t now)
{
	long long s = oldest ? (long long)(now - oldest) : -1;
	if (s < 0)
		util_buf_adds(b, "nothing waiting");
	else if (s < 3600)
		util_buf_printf(b, "%lld min", s / 60);
	else if (s < 172800)
		util_buf_printf(b, "%lld h %lld min", s / 3600, s % 3600 / 60);
	else
		util_buf_printf(b, "%lld days", s / 86400);
}

/* Two bars an hour, a grid, labels every six hours: no script, no style attribute. */
static void chart(struct util_buf *b, const struct dash *d)
{
	size_t max = 1;
	for (int h = 0; h < HOURS; h++)
		max = d->sent[h] > max ? d->sent[h] : d->failed[h] > max ? d->failed[h] : max;
	const int W = 960, H = 220, L = 40, B = 30, T = 10, bw = (W - L - 10) / HOURS;
	int ph = H - B - T;
	util_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
			   "role=\"img\" aria-label=\"Receivers sent and failed per hour, last 48 hours\">"
			   "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>", W, H, W, H, W, H);
	for (int g = 0; g <= 4; g++) {
		int y = T + ph - ph * g / 4;
		util_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
				   "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%zu</text>", L, y, W - 10, y, L - 4, y + 4,
				max * (size_t)g / 4);
	}
	for (int h = 0; h < HOURS; h++) {
		int x = L + h * bw;
		int hs = (int)((size_t)ph * d->sent[h] / max), hf = (int)((size_t)ph * d->failed[h] / max);
		util_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#3c8d40\"><title>%zu sent</title></rect>"
				   "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#c77c02\"><title>%zu failed</title></rect>",
				x + 1, T + ph - hs, bw / 2 - 1, hs, d->sent[h], x + bw / 2, T + ph - hf, bw / 2 - 1, hf,
				d->failed[h]);
		if (h % 6 == 0) {
			time_t t = d->start + (time_t)h * 3600;
			struct tm tm;
			char lab[16];
			localtime_r(&t, &tm);
			strftime(lab, sizeof lab, "%d %H:00", &tm);
			util_buf_printf(b, "<text x=\"%d\" y=\"%d\">%s</text>", x, H - 10, lab);
		}
	}
	util_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/></svg>", L, T + ph, W - 10, T + ph);
	util_buf_adds(b, "<p><svg width=\"12\" height=\"12\"><rect width=\"12\" height=\"12\" fill=\"#3c8d40\"/></svg> sent "
			 "<svg width=\"12\" height=\"12\"><rect width=\"12\" height=\"12\" fill=\"#c77c02\"/></svg> "
			 "failed or moved to error (last attempt)</p>");
}

void webpages_dashboard(struct web_req *r)
{
	struct query_filter every = {.now = time(NULL), .unsorted = true};
	struct dash d = {0};
	struct tally t = {.r = r, .now = every.now, .d = &d};
	d.start = every.now - every.now % 3600 - (HOURS - 1) * 3600;
	if (query_each(r->app->sp, r->app->conf.max_receiver_size, &every, tally, &t, NULL) < 0) {
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "The spool cannot be read; see the log.");
		return;
	}
	struct util_buf *b = &r->out;
	webhtml_head(b, "Dashboard", r->user, r->sess->csrf);
	util_buf_adds(b, "<div class=\"cards\">");
	card(b, "all receivers", d.total, NULL);
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		card(b, spool_status_name((enum spool_status)s), d.status[s], spool_status_name((enum spool_status)s));
	util_buf_adds(b, "</div><p>Oldest receiver waiting to be sent (not_sent or failed): <b>");
	age(b, d.oldest_waiting, every.now);
	util_buf_adds(b, "</b></p><h2>Sent and failed per hour, last 48 hours</h2>");
	chart(b, &d);
	webhtml_foot(b);
}
