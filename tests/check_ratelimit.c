/* check_ratelimit: smtp.rate's counts per hour and day (ratelimit.c) with
 * a clock of the test's own: a slot given back returns to the window it
 * was taken in, never to the one after it, whoever started that one (this
 * process's other thread, or another process through SPOOL/rate). */
#include "config.h"
#include "ratelimit.h"
#include "unit.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static char *dir;
static struct spool *sp;
static struct conf conf;
static double now;

static double test_clock(void)
{
	return now;
}

/* An hour's boundary: 2025-11-30 11:00:00 UTC. */
#define HOUR 1764500400.0

static void setup(void)
{
	dir = unit_tmpdir();
	sp = unit_spool(dir);
	memset(&conf, 0, sizeof conf);
	conf.smtp.nrates = 1;
	conf.smtp.rate[0].n = 10;
	conf.smtp.rate[0].per = 3600;
	ratelimit_clock = test_clock;
	now = HOUR - 3600 + 100;
}

static void teardown(void)
{
	spool_close(sp);
	unit_rmtree(dir);
	free(dir);
}

/* What stats shows taken in the current window of the first limit. */
static long used(void)
{
	struct ratelimit_use u[4];
	ck_assert_int_eq(ratelimit_usage(sp, &conf, u), 1);
	return u[0].count;
}

static double take(struct ratelimit *rl)
{
	double until, at = 0;
	ck_assert_int_eq(ratelimit_try(rl, &until, &at), 0);
	ck_assert(at == now);
	return at;
}

START_TEST(test_give_back_same_window)
{
	struct ratelimit *rl = ratelimit_new(sp, &conf);
	take(rl);
	double at = take(rl);
	ck_assert_int_eq(used(), 2);
	now += 10;
	ratelimit_give_back(rl, at);
	ck_assert_int_eq(used(), 1);
	ratelimit_free(rl);
}
END_TEST

/* Taken in the last second of an hour, given back in the next one after
 * another worker (the same limiter) took the new hour's first slot. */
START_TEST(test_give_back_after_boundary)
{
	struct ratelimit *rl = ratelimit_new(sp, &conf);
	now = HOUR - 0.5;
	double at = take(rl);
	now = HOUR + 0.5;
	take(rl);
	ck_assert_int_eq(used(), 1);
	ratelimit_give_back(rl, at);
	ck_assert_int_eq(used(), 1);
	ratelimit_free(rl);
}
END_TEST

/* The same with the new hour's slot taken by another process (its own
 * limiter, the same SPOOL/rate): the give-back must not write the old
 * hour's count over the new one's either. */
START_TEST(test_give_back_after_boundary_other)
{
	struct ratelimit *mine = ratelimit_new(sp, &conf), *other = ratelimit_new(sp, &conf);
	now = HOUR - 0.5;
	double at = take(mine);
	now = HOUR + 0.5;
	take(other);
	take(other);
	ck_assert_int_eq(used(), 2);
	ratelimit_give_back(mine, at);
	ck_assert_int_eq(used(), 2);
	take(mine);
	ck_assert_int_eq(used(), 3);
	ratelimit_free(other);
	ratelimit_free(mine);
}
END_TEST

/* A limit per day, at the local midnight. */
START_TEST(test_give_back_after_midnight)
{
	conf.smtp.rate[0].per = 86400;
	double midnight = (double)util_local_start((time_t)HOUR + 86400, UTIL_DAY, 0);
	now = midnight - 0.5;
	struct ratelimit *rl = ratelimit_new(sp, &conf);
	double at = take(rl);
	ck_assert_int_eq(used(), 1);
	now = midnight + 0.5;
	take(rl);
	ratelimit_give_back(rl, at);
	ck_assert_int_eq(used(), 1);
	ratelimit_free(rl);
}
END_TEST

Suite *suite_ratelimit(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("give_back");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_give_back_same_window);
	tcase_add_test(tc, test_give_back_after_boundary);
	tcase_add_test(tc, test_give_back_after_boundary_other);
	tcase_add_test(tc, test_give_back_after_midnight);
	suite_add_tcase(s, tc);
	return s;
}
