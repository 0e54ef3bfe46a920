/* check_conns: the connection count's rules (conns.c) with a clock of the
 * test's own: start at min, double under a backlog the open ones cannot
 * send in a second, stay put when they can or when more do not send
 * more, fall back and hold after a
 * refusal while others deliver, back to min when idle. */
#include "config.h"
#include "conns.h"
#include "unit.h"

/* Every test starts with a count from 2 to 20 (a test that wants another
 * range sets it again) and its clock at 1,000 ms. */
static struct conns c;
static double now;

static void setup(void)
{
	conns_init(&c, 2, 20);
	now = 1000;
}

/* A refused connection after 50 ms, 900 waiting. */
static enum conns_change refused(void)
{
	return conns_after(&c, false, true, false, 50, 900, now);
}

/* n deliveries of `ms` each, ending at now, with `backlog` waiting. */
static enum conns_change deliver(int n, double ms, size_t backlog)
{
	enum conns_change last = CONNS_SAME, ch;
	for (int i = 0; i < n; i++) {
		now += ms / (c.allowed ? c.allowed : 1);
		if ((ch = conns_after(&c, true, false, false, ms, backlog, now)) != CONNS_SAME)
			last = ch;
	}
	return last;
}

START_TEST(test_grows_under_backlog)
{
	ck_assert(conns_may_send(&c, 1) && !conns_may_send(&c, 2));
	/* 100 ms a message: two send 20 a second, 900 wait. */
	ck_assert_int_eq(deliver(1, 100, 900), CONNS_GREW);
	ck_assert_int_eq(c.allowed, 4);
	deliver(40, 100, 900);
	ck_assert_int_eq(c.allowed, 20);
	ck_assert_int_eq(deliver(40, 100, 900), CONNS_SAME);
	ck_assert_int_eq(c.allowed, 20);
}
END_TEST

START_TEST(test_fast_server_stays_low)
{
	conns_init(&c, 2, 40);
	/* 0.3 ms a message (loopback): two send 6,600 a second, 4,000 wait. */
	ck_assert_int_eq(deliver(2000, 0.3, 4000), CONNS_SAME);
	ck_assert_int_eq(c.allowed, 2);
}
END_TEST

/* A host that is the limit: whatever the count, 2,000 deliveries a
 * second in all, each attempt slower the more connections share it. */
START_TEST(test_no_gain_no_growth)
{
	conns_init(&c, 2, 40);
	for (int i = 0; i < 4000; i++) {
		now += 0.5;
		conns_after(&c, true, false, false, 0.5 * (double)c.allowed, 4000, now);
	}
	ck_assert_int_le(c.allowed, 4);
	ck_assert_int_eq(c.ceiling, c.allowed);
}
END_TEST

START_TEST(test_refusal_falls_back_and_holds)
{
	deliver(10, 100, 900);
	long before = c.allowed;
	ck_assert_int_gt(before, 2);
	ck_assert_int_eq(refused(), CONNS_LIMIT);
	ck_assert_int_eq(c.allowed, before - 1);
	/* No growth while held (5 s), then one at a time. */
	ck_assert_int_eq(deliver(20, 100, 900), CONNS_SAME);
	now += 5000;
	long at = c.allowed;
	int n = 0;
	while (deliver(1, 100, 900) != CONNS_GREW && n < 100)
		n++;
	ck_assert_int_eq(c.allowed, at + 1);
	/* A second refusal holds twice as long. */
	ck_assert_int_eq(refused(), CONNS_LIMIT);
	ck_assert_int_ge(c.hold, 5000);
}
END_TEST

START_TEST(test_outage_is_not_a_limit)
{
	/* Nothing delivered yet: a refused connection is an outage. */
	ck_assert_int_eq(refused(), CONNS_SAME);
	ck_assert_int_eq(c.allowed, 2);
	deliver(5, 100, 900);
	now += 3000; /* the last delivery is long ago */
	long before = c.allowed;
	ck_assert_int_eq(refused(), CONNS_SAME);
	ck_assert_int_eq(c.allowed, before);
}
END_TEST

START_TEST(test_idle_and_fixed)
{
	deliver(30, 100, 900);
	ck_assert(conns_idle(&c));
	ck_assert_int_eq(c.allowed, 2);
	ck_assert(!conns_idle(&c));
	conns_init(&c, 4, 4);
	ck_assert_int_eq(deliver(100, 100, 900), CONNS_SAME);
	ck_assert_int_eq(c.allowed, 4);
	ck_assert(!conns_idle(&c));
}
END_TEST

Suite *suite_conns(void)
{
	Suite *s = suite_create("conns");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_grows_under_backlog);
	tcase_add_test(tc, test_fast_server_stays_low);
	tcase_add_test(tc, test_no_gain_no_growth);
	tcase_add_test(tc, test_refusal_falls_back_and_holds);
	tcase_add_test(tc, test_outage_is_not_a_limit);
	tcase_add_test(tc, test_idle_and_fixed);
	suite_add_tcase(s, tc);
	return s;
}
