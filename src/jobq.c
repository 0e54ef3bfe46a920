/* jobq: a ring of ids and a hash set of those queued or in flight. It owns
 * only memory: it never touches the spool nor takes a lock (msgspoold.c
 * holds its own around every call). Its bounds are in msgspoold(8). */
#include "config.h"
#include "jobq.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_SIZE 65536	/* buckets; the set holds any number of ids */

/* An id in one of the two hash sets; the stuck set also keeps the look
 * it was passed over at. */
struct jobq_entry {
	struct jobq_entry *next;
	ino_t ino;
	struct timespec ctime;
	char id[];
};

static unsigned bucket(const char *s)
{
	return util_fnv1a(UTIL_FNV_INIT, s) % SET_SIZE;
}

void jobq_init(struct jobq *q, size_t high)
{
	memset(q, 0, sizeof *q);
	q->high = high;
	q->set = util_xmalloc(SET_SIZE * sizeof *q->set);
	memset(q->set, 0, SET_SIZE * sizeof *q->set);
}

/* A new entry for `id` at the head of its chain in a set of n buckets. */
static struct jobq_entry *chain_add(struct jobq_entry **set, size_t n, const char *id)
{
	size_t l = strlen(id) + 1;
	struct jobq_entry *e = util_xmalloc(sizeof *e + l);
	memcpy(e->id, id, l);
	unsigned h = util_fnv1a(UTIL_FNV_INIT, id) % n;
	e->next = set[h];
	set[h] = e;
	return e;
}

/* Frees a set of n buckets and every entry in it. */
static void chains_free(struct jobq_entry **set, size_t n)
{
	for (size_t i = 0; set && i < n; i++) {
		while (set[i]) {
			struct jobq_entry *e = set[i];
			set[i] = e->next;
			free(e);
		}
	}
	free(set);
}

static void stuck_free(struct jobq *q);

void jobq_free(struct jobq *q)
{
	stuck_free(q);
	chains_free(q->set, SET_SIZE);
	for (int l = 0; l < JOBQ_LEVELS; l++)
		free(q->ring[l].jobs);
	free(q->later);
	memset(q, 0, sizeof *q);
}

static bool set_has(struct jobq *q, const char *id)
{
	for (struct jobq_entry *e = q->set[bucket(id)]; e; e = e->next)
		if (!strcmp(e->id, id))
			return true;
	return false;
}

static void set_add(struct jobq *q, const char *id)
{
	chain_add(q->set, SET_SIZE, id);
	q->nset++;
}

bool jobq_has(struct jobq *q, const char *id)
{
	return set_has(q, id);
}

void jobq_done(struct jobq *q, const char *id)
{
	for (struct jobq_entry **p = &q->set[bucket(id)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->id, id)) {
			struct jobq_entry *e = *p;
			*p = e->next;
			free(e);
			q->nset--;
			return;
		}
	}
}

bool jobq_push_at(struct jobq *q, enum spool_status from, const char *id, int level)
{
	if (set_has(q, id) || (q->nlater && jobq_later_waits(q, id, time(NULL))))
		return true;
	if (q->n >= q->high) {
		q->backlog = true;
		return false;
	}
	struct jobq_ring *r = &q->ring[level < 0 ? 0 : level >= JOBQ_LEVELS ? JOBQ_LEVELS - 1 : level];
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct jobq_job *j = util_xmalloc(cap * sizeof *j);
		for (size_t i = 0; i < r->n; i++)
			j[i] = r->jobs[(r->head + i) % r->cap];
		free(r->jobs);
		r->jobs = j;
		r->head = 0;
		r->cap = cap;
	}
	struct jobq_job *j = &r->jobs[(r->head + r->n) % r->cap];
	snprintf(j->id, sizeof j->id, "%s", id);
	j->from = from;
	r->n++;
	q->n++;
	set_add(q, id);
	return true;
}

bool jobq_push(struct jobq *q, enum spool_status from, const char *id)
{
	return jobq_push_at(q, from, id, 1);
}

bool jobq_pop_level(struct jobq *q, struct jobq_job *job, int *level)
{
	for (int l = 0; l < JOBQ_LEVELS; l++) {
		struct jobq_ring *r = &q->ring[l];
		if (r->n == 0)
			continue;
		*job = r->jobs[r->head];
		r->head = (r->head + 1) % r->cap;
		r->n--;
		q->n--;
		if (level)
			*level = l;
		return true;
	}
	return false;
}

bool jobq_pop(struct jobq *q, struct jobq_job *job)
{
	return jobq_pop_level(q, job, NULL);
}

int jobq_top_level(const struct jobq *q)
{
	int l = 0;
	while (l < JOBQ_LEVELS && q->ring[l].n == 0)
		l++;
	return l;
}

/* ---- entries passed over until they change ---- */

#define STUCK_SIZE 1024

static void stuck_free(struct jobq *q)
{
	chains_free(q->stuck, STUCK_SIZE);
	q->stuck = NULL;
	q->nstuck = 0;
}

static struct jobq_entry **stuck_find(const struct jobq *q, const char *id)
{
	if (!q->stuck)
		return NULL;
	for (struct jobq_entry **p = &q->stuck[util_fnv1a(UTIL_FNV_INIT, id) % STUCK_SIZE]; *p; p = &(*p)->next)
		if (!strcmp((*p)->id, id))
			return p;
	return NULL;
}

bool jobq_stuck_has(const struct jobq *q, const char *id)
{
	return q->nstuck && stuck_find(q, id);
}

void jobq_stuck_add(struct jobq *q, const char *id, const struct stat *st)
{
	if (!q->stuck) {
		q->stuck = util_xmalloc(STUCK_SIZE * sizeof *q->stuck);
		memset(q->stuck, 0, STUCK_SIZE * sizeof *q->stuck);
	}
	struct jobq_entry **p = stuck_find(q, id), *e;
	if (!p) {
		e = chain_add(q->stuck, STUCK_SIZE, id);
		q->nstuck++;
	} else {
		e = *p;
	}
	e->ino = st->st_ino;
	e->ctime = st->st_ctim;
}

bool jobq_stuck_same(struct jobq *q, const char *id, const struct stat *now)
{
	struct jobq_entry **p = stuck_find(q, id);
	if (!p)
		return false;
	struct jobq_entry *e = *p;
	if (now && e->ino == now->st_ino && e->ctime.tv_sec == now->st_ctim.tv_sec &&
	    e->ctime.tv_nsec == now->st_ctim.tv_nsec)
		return true;
	*p = e->next;
	free(e);
	q->nstuck--;
	return false;
}

/* ---- ids that get another look later ---- */

void jobq_later_add(struct jobq *q, const char *id, time_t at)
{
	for (size_t i = 0; i < q->nlater; i++) {
		if (!strcmp(q->later[i].id, id)) {
			q->later[i].at = at;
			return;
		}
	}
	if (q->nlater == q->caplater) {
		size_t cap = q->caplater ? q->caplater * 2 : 16;
		struct jobq_later *l = util_xmalloc(cap * sizeof *l);
		if (q->nlater)
			memcpy(l, q->later, q->nlater * sizeof *l);
		free(q->later);
		q->later = l;
		q->caplater = cap;
	}
	snprintf(q->later[q->nlater].id, sizeof q->later[q->nlater].id, "%s", id);
	q->later[q->nlater++].at = at;
}

bool jobq_later_waits(const struct jobq *q, const char *id, time_t now)
{
	for (size_t i = 0; i < q->nlater; i++)
		if (!strcmp(q->later[i].id, id))
			return now < q->later[i].at;
	return false;
}

time_t jobq_later_run(struct jobq *q, time_t now)
{
	time_t next = 0;
	for (size_t i = 0; i < q->nlater;) {
		struct jobq_later *l = &q->later[i];
		if (l->at > now) {
			next = next && next < l->at ? next : l->at;
			i++;
			continue;
		}
		char id[SPOOL_ID_MAX + 1];
		memcpy(id, l->id, sizeof id);
		*l = q->later[--q->nlater];
		jobq_push(q, SPOOL_NEW, id);
	}
	return next;
}
