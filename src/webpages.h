/* webpages: the handlers behind msgspool-web's routes (web.c's route
 * table names them; webhttp.c calls them once the login and CSRF gates
 * are passed). HTML pages are in
 * webpages.c and weblist.c, the JSON API and the actions in webapi.c. */
#ifndef MSGSPOOL_WEBPAGES_H
#define MSGSPOOL_WEBPAGES_H

#include "query.h"
#include "webhttp.h"

#define WEBLIST_PAGE 100	/* rows a page */

#define WEBLIST_TYPES 50	/* the sidebar's type choices; producers choose types */

/* Counts per sidebar choice, over every receiver. */
struct weblist_counts {
	size_t total, status[SPOOL_NSTATUS], sent[6];
	struct {
		char *name;
		size_t n;
	} types[WEBLIST_TYPES];
	size_t ntypes, other_types;
};

/* The list's query parameters, checked; one scan of the spool serves the
 * counts and the page, and keeps only the rows up to the page's end. */
struct weblist {
	struct query_filter f;
	const char *status, *sent, *type, *q, *sort;
	long page;		/* from 1 */
	struct weblist_counts counts;
	struct query_row *rows;	/* the page's rows, sorted; each row's strings in one block at id */
	size_t nrows;
	size_t nsel;		/* rows matching the filter, on every page */
};
/* Parses the parameters and runs the query; on a bad parameter or a spool
 * error the answer (400 or 500) is set and -1 returned. */
int weblist_query(struct web_req *r, struct weblist *l);
void weblist_free(struct weblist *l);

/* Finds the status of receiver id; when that fails, answers 400 with bad
 * (not an id) or 404 with missing (no such receiver) and returns false. */
bool webpages_locate(struct web_req *r, const char *id, enum spool_status *st, const char *bad,
		     const char *missing);

void webpages_login_form(struct web_req *r);
void webpages_login(struct web_req *r);
void webpages_logout(struct web_req *r);
void webpages_dashboard(struct web_req *r);
void webpages_list(struct web_req *r);
void webpages_detail(struct web_req *r, const char *id);
void webpages_resend(struct web_req *r);
void webpages_delete(struct web_req *r);
/* Hold and release the selected receivers, as `msgspool hold` and `release`. */
void webpages_hold(struct web_req *r);
void webpages_release(struct web_req *r);
void webapi_list(struct web_req *r);
void webapi_show(struct web_req *r, const char *id);
void webapi_resend(struct web_req *r);

#endif
