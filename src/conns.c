/* conns: the number of SMTP connections msgspoold may keep open, adapted
 * within smtp.connections {min, max} the way Postfix's qmgr adapts its
 * destination concurrency: start low, grow while there is more waiting
 * than the open connections can send in a second and the server keeps
 * accepting, fall back and hold after a refusal, return to min when idle.
 *
 * It owns only that count: it never opens, closes or waits on a
 * connection (msgspoold's workers do, asking conns_may_send), and it reads
 * no clock but the one the caller passes in. Documented in msgspoold(8) and
 * msgspool.yaml(5) under smtp.connections. */
#include "config.h"
#include "conns.h"


/* Growth after a refusal waits this long at first, doubling per refusal
 * up to HOLD_MAX, and halving at each growth that follows. */
#define HOLD_FIRST 5000
#define HOLD_MAX 300000
/* A refusal counts as the server's limit (not an outage) when another
 * connection delivered within this many milliseconds. */
#define OTHERS_RECENT 2000

void conns_init(struct conns *c, long min, long max)
{
	*c = (struct conns){.min = min, .max = max, .allowed = min, .ceiling = max};
}

bool conns_may_send(const struct conns *c, size_t worker)
{
	return (long)worker < c->allowed;
}

/* A new period of judgement: allowed has changed. */
static void changed(struct conns *c)
{
	c->ok_since_change = 0;
	c->warm_ms = 0;
	c->warm_n = 0;
}

/* A refused or lost session. With others delivering it is the server
 * saying "no more": one connection fewer, and no growing for a while. */
static enum conns_change refused(struct conns *c, double now)
{
	if (!c->last_ok || now - c->last_ok > OTHERS_RECENT || c->allowed <= 1)
		return CONNS_SAME; /* nothing works: an outage, the daemon backs off */
	c->allowed--;
	c->refused = true;
	c->hold = c->hold ? (c->hold * 2 > HOLD_MAX ? HOLD_MAX : c->hold * 2) : HOLD_FIRST;
	c->hold_until = now + c->hold;
	c->mean_before = 0;
	changed(c);
	return CONNS_LIMIT;
}

/* Did the last growth pay? Where the network is the limit an attempt on
 * an open connection takes as long with more of them; where the daemon or
 * the host is (loopback, a busy machine) each gets slower as they share
 * it, and more connections would send no more. Judged once the open ones
 * have each carried about one message. */
static bool growth_paid(struct conns *c)
{
	if (c->mean_before <= 0)
		return true;
	if (c->warm_n < (c->allowed + 1) / 2)
		return true; /* not yet known: no growth meanwhile, see the caller */
	/* Twice the connections, each under 1.6 times slower: 25% more sent. */
	if (c->warm_ms / (double)c->warm_n > c->mean_before * 1.6) {
		c->ceiling = c->allowed;
		return false;
	}
	return true;
}

enum conns_change conns_after(struct conns *c, bool delivered, bool session_failed, bool fresh, double ms,
			      size_t backlog, double now)
{
	if (session_failed)
		return refused(c, now);
	if (!delivered)
		return CONNS_SAME;
	c->last_ok = now;
	c->attempt_ms = c->attempt_ms > 0 ? c->attempt_ms + (ms - c->attempt_ms) / 8 : ms;
	c->ok_since_change++;
	if (!fresh) {
		c->warm_ms += ms;
		c->warm_n++;
	}
	if (c->allowed >= c->ceiling || now < c->hold_until || !growth_paid(c))
		return CONNS_SAME;
	/* What the connections allowed now send in a second. */
	double per_second = (double)c->allowed * 1000.0 / (c->attempt_ms > 0.01 ? c->attempt_ms : 0.01);
	if ((double)backlog <= per_second)
		return CONNS_SAME;
	/* The server has taken a quarter of a message per connection since
	 * the last step, and half of them have carried one on a connection
	 * already open (to judge by): it accepts the ones open, so try more.
	 * Before any refusal, double towards what would send the backlog in a
	 * second (a slow start, as TCP's); after one, one at a time. */
	if (c->ok_since_change < (c->allowed + 3) / 4 || c->warm_n < (c->allowed + 1) / 2)
		return CONNS_SAME;
	long want = c->allowed + 1;
	if (!c->refused) {
		double need = (double)backlog * c->attempt_ms / 1000.0 + 1;
		want = (double)(c->allowed * 2) < need ? c->allowed * 2 : (long)need;
		if (want <= c->allowed)
			want = c->allowed + 1;
	}
	c->allowed = want > c->ceiling ? c->ceiling : want;
	c->mean_before = c->warm_n ? c->warm_ms / (double)c->warm_n : 0;
	changed(c);
	c->hold /= 2;
	return CONNS_GREW;
}

void conns_set_range(struct conns *c, long min, long max)
{
	long allowed = c->allowed < min ? min : c->allowed > max ? max : c->allowed;
	c->min = min;
	c->max = max;
	c->ceiling = max;
	if (allowed != c->allowed) {
		c->allowed = allowed;
		c->mean_before = 0;
		changed(c);
	}
}

bool conns_idle(struct conns *c)
{
	bool was = c->allowed != c->min;
	c->allowed = c->min;
	c->refused = false;
	c->ceiling = c->max;
	c->mean_before = 0;
	changed(c);
	return was;
}
