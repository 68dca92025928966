// SPDX-License-Identifier: GPL-2.0
/*
 * RouterOS EoIP keepalive (docs/eoip-keepalive.md), the same state machine as
 * the userland backend's src/eoip/keepalive.ts:
 *
 * - one keepalive is sent per interval, from the moment the device is up;
 *   nothing is echoed;
 * - only received keepalives count as liveness, data frames do not;
 * - until a keepalive has ever arrived the carrier stays on (waiting), so peers
 *   configured `!keepalive` keep working;
 * - after interval x retries without one the carrier drops (down); sending
 *   goes on, and the next keepalive brings the carrier back;
 * - keepalive none (interval 0): no timer, carrier on.
 *
 * One timer per device, armed only while the device is up. It fires at the
 * next send time or at the silence deadline, whichever comes first; receiving
 * never re-arms it, because the deadline after a keepalive (interval x retries
 * away) is never earlier than the next send (at most one interval away).
 */
#include "eoip.h"

/* The carrier follows the state; the caller holds ka->lock so changes apply in order. */
static void eoip_ka_apply_carrier(struct eoip_tunnel *t)
{
	if (t->ka.state == EOIP_KA_DOWN)
		netif_carrier_off(t->dev);
	else
		netif_carrier_on(t->dev);
}

static bool eoip_ka_silent_too_long(const struct eoip_keepalive *ka, unsigned long now)
{
	return ka->state == EOIP_KA_UP && time_after_eq(now, ka->last_rx + ka->timeout);
}

static void eoip_ka_set_config(struct eoip_keepalive *ka, const struct eoip_config *cfg)
{
	ka->interval = (unsigned long)cfg->ka_interval * HZ;
	ka->timeout = ka->interval * cfg->ka_retries;
}

static void eoip_keepalive_timer(struct timer_list *timer);

/* Device creation (before it is registered): never heard anything yet. */
void eoip_keepalive_init(struct eoip_tunnel *t, const struct eoip_config *cfg)
{
	struct eoip_keepalive *ka = &t->ka;

	spin_lock_init(&ka->lock);
	timer_setup(&ka->timer, eoip_keepalive_timer, 0);
	eoip_ka_set_config(ka, cfg);
	ka->state = ka->interval ? EOIP_KA_WAITING : EOIP_KA_OFF;
	ka->heard = false;
	ka->next_send = jiffies;
	ka->rx_count = 0;
	ka->tx_count = 0;
}

/* Skips missed slots instead of bursting after a stall (as keepalive.ts does). */
static void eoip_ka_advance_send(struct eoip_keepalive *ka, unsigned long now)
{
	unsigned long missed = (now - ka->next_send) / ka->interval;

	ka->next_send += (missed + 1) * ka->interval;
}

static unsigned long eoip_ka_deadline(const struct eoip_keepalive *ka)
{
	unsigned long silence;

	if (ka->state != EOIP_KA_UP)
		return ka->next_send;
	silence = ka->last_rx + ka->timeout;
	return time_before(silence, ka->next_send) ? silence : ka->next_send;
}

static void eoip_keepalive_timer(struct timer_list *timer)
{
	struct eoip_keepalive *ka = timer_container_of(ka, timer, timer);
	struct eoip_tunnel *t = container_of(ka, struct eoip_tunnel, ka);
	unsigned long now = jiffies;
	bool send = false;

	spin_lock(&ka->lock);
	if (!ka->interval) {
		/* Reconfigured to none while this run was pending: stay stopped. */
		spin_unlock(&ka->lock);
		return;
	}
	if (time_after_eq(now, ka->next_send)) {
		send = true;
		WRITE_ONCE(ka->tx_count, ka->tx_count + 1);
		eoip_ka_advance_send(ka, now);
	}
	if (eoip_ka_silent_too_long(ka, now)) {
		ka->state = EOIP_KA_DOWN;
		eoip_ka_apply_carrier(t);
	}
	mod_timer(&ka->timer, eoip_ka_deadline(ka));
	spin_unlock(&ka->lock);

	if (send)
		eoip_send_keepalive(t);
}

/*
 * ndo_open: what was heard before the device went down still counts, so a
 * tunnel whose peer died does not come back up just because it was bounced.
 */
void eoip_keepalive_open(struct eoip_tunnel *t)
{
	struct eoip_keepalive *ka = &t->ka;
	unsigned long now = jiffies;

	spin_lock_bh(&ka->lock);
	ka->next_send = now;	/* the first keepalive goes out at once, as RouterOS does */
	if (eoip_ka_silent_too_long(ka, now))
		ka->state = EOIP_KA_DOWN;
	eoip_ka_apply_carrier(t);
	if (ka->interval)
		mod_timer(&ka->timer, now);
	spin_unlock_bh(&ka->lock);
}

/* ndo_stop (RTNL): after this the timer neither runs nor sends until the next open. */
void eoip_keepalive_stop(struct eoip_tunnel *t)
{
	timer_delete_sync(&t->ka.timer);
}

/*
 * changelink (RTNL): a new interval or retries keep what was heard: a tunnel
 * changed from none starts waiting (or up, if it heard keepalives before it
 * was set to none); one changed to none is off with the carrier on.
 */
void eoip_keepalive_reconfigure(struct eoip_tunnel *t, const struct eoip_config *cfg)
{
	struct eoip_keepalive *ka = &t->ka;
	bool running = netif_running(t->dev);
	unsigned long now = jiffies;

	if (running)
		timer_delete_sync(&ka->timer);
	spin_lock_bh(&ka->lock);
	eoip_ka_set_config(ka, cfg);
	if (!ka->interval)
		ka->state = EOIP_KA_OFF;
	else if (ka->state == EOIP_KA_OFF)
		ka->state = ka->heard ? EOIP_KA_UP : EOIP_KA_WAITING;
	if (time_before(now, ka->next_send))
		ka->next_send = now;
	if (eoip_ka_silent_too_long(ka, now))
		ka->state = EOIP_KA_DOWN;
	eoip_ka_apply_carrier(t);
	if (running && ka->interval)
		mod_timer(&ka->timer, now);
	spin_unlock_bh(&ka->lock);
}

/*
 * Receive path: a keepalive from the peer. With keepalive none it means
 * nothing. _bh although receive runs in softirq: cheap insurance for a
 * LOCAL_IN reached with BH enabled, and keepalives are rare.
 */
void eoip_keepalive_received(struct eoip_tunnel *t)
{
	struct eoip_keepalive *ka = &t->ka;

	spin_lock_bh(&ka->lock);
	WRITE_ONCE(ka->rx_count, ka->rx_count + 1);
	if (ka->state != EOIP_KA_OFF) {
		WRITE_ONCE(ka->last_rx, jiffies);
		WRITE_ONCE(ka->heard, true);
		if (ka->state == EOIP_KA_DOWN) {
			ka->state = EOIP_KA_UP;
			eoip_ka_apply_carrier(t);
		} else {
			ka->state = EOIP_KA_UP;
		}
	}
	spin_unlock_bh(&ka->lock);
}
