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
	struct weblist_type {
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

/* What an id from a URL or a form names: a whole id, or a unique prefix
 * of one, as `msgspool show PREFIX` takes it (the exact id first, so an
 * id that is also the start of another is itself). */
enum webpages_find { WEBPAGES_FOUND, WEBPAGES_BAD, WEBPAGES_NONE, WEBPAGES_AMBIGUOUS, WEBPAGES_ERROR };
enum webpages_find webpages_find(struct web_req *r, const char *in, char id[SPOOL_ID_MAX + 1],
				 enum spool_status *st);
/* The same, answering when it fails: 400 with bad (not an id), 404 with
 * missing (no such receiver), 300 with the candidates (a prefix of more
 * than one: a page of links, or in the API {"error", "candidates"}). */
bool webpages_locate(struct web_req *r, const char *in, char id[SPOOL_ID_MAX + 1], enum spool_status *st,
		     const char *bad, const char *missing);
/* Makes each unique id prefix in ids[] whole (the ids then point into
 * *store, which the caller frees, also on false). When a prefix names more
 * than one receiver it answers 409 with the candidates and returns false:
 * an action never runs on more receivers than were meant. Bad or unknown
 * ids are left for the action to refuse. */
bool webpages_resolve_ids(struct web_req *r, char **ids, size_t n, char **store);

#define WEBPAGES_CANDIDATES 20	/* the candidates an ambiguous prefix's page shows */
struct webpages_candidate {
	char id[SPOOL_ID_MAX + 1];
	enum spool_status st;
};
/* The receivers whose id starts with prefix: the first
 * WEBPAGES_CANDIDATES sorted into out; returns how many in all. */
size_t webpages_candidates(struct web_req *r, const char *prefix, struct webpages_candidate *out);

/* The handlers, one per route of web.c's table, named by the route they
 * answer. Pages (webpages.c, weblist.c, webdash.c): */
void webpages_login_form(struct web_req *r);	/* GET /login */
void webpages_login(struct web_req *r);		/* POST /login: checks, then a session */
void webpages_logout(struct web_req *r);	/* POST /logout */
void webpages_dashboard(struct web_req *r);	/* GET /: counts, oldest waiting, 48 h chart */
void webpages_list(struct web_req *r);		/* GET /receivers?status&sent&type&q&sort&page */
void webpages_detail(struct web_req *r, const char *id);	/* GET /receivers/ID */

/* The actions on the selected receivers (POST /receivers/ACTION), each
 * through the same code as the command of its name: */
void webpages_resend(struct web_req *r);	/* msgspool resend: regardless of status */
void webpages_delete(struct web_req *r);	/* asks, then deletes: msgspool delete */
void webpages_hold(struct web_req *r);		/* msgspool hold: new/ or failed/ to hold/ */
void webpages_release(struct web_req *r);	/* msgspool release: hold/ to new/ */

/* The JSON API (webapi.c): list --json, show --json and resend. */
void webapi_list(struct web_req *r);			/* GET /api/receivers */
void webapi_show(struct web_req *r, const char *id);	/* GET /api/receivers/ID */
void webapi_resend(struct web_req *r);			/* POST /api/resend {"ids": [...]} */

#endif
