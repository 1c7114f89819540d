#include "device.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "util.h"

struct metro_device {
	const struct metro_driver *drv;
	struct metro_driver_conn conn;
	void *handle;
	int ever_connected;
	uint64_t next_attempt_ns; /* backoff: no reconnect attempt before this */
	unsigned backoff_ms;
	char desc[160];
	char err[640];
	pthread_mutex_t lock; /* guards stats */
	struct metro_device_stats st;
	struct metro_ratelimit rl;    /* failures */
	struct metro_ratelimit rl_up; /* recoveries */
	uint64_t (*now)(void);
	int in_on_connect; /* running the profile's on_connect: no reconnecting inside it */
};

int metro_device_new(const struct metro_driver *drv, const struct metro_driver_conn *conn,
		     struct metro_device **out)
{
	*out = NULL;
	const char *want =
		conn->profile->transport == METRO_TRANSPORT_MODBUS ? "modbus" : "serial-line";
	if (strcmp(drv->transport, want) != 0)
		return METRO_E_INVAL;
	struct metro_device *d = metro_calloc(1, sizeof *d);
	d->drv = drv;
	d->conn = *conn;
	d->now = metro_now_ns;
	d->backoff_ms = METRO_DEVICE_BACKOFF_MIN_MS;
	pthread_mutex_init(&d->lock, NULL);
	snprintf(d->desc, sizeof d->desc, "%s (rig %s, not connected)", drv->name, conn->rig_id);
	*out = d;
	return METRO_OK;
}

void metro_device_destroy(struct metro_device **pd)
{
	struct metro_device *d = *pd;
	if (!d)
		return;
	metro_device_disconnect(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*pd = NULL;
}

void metro_device_set_clock(struct metro_device *d, uint64_t (*now_ns)(void))
{
	d->now = now_ns;
}

void metro_device_disconnect(struct metro_device *d)
{
	if (d->handle) {
		d->drv->close(d->handle);
		d->handle = NULL;
		pthread_mutex_lock(&d->lock);
		d->st.connected = 0;
		pthread_mutex_unlock(&d->lock);
	}
}

int metro_device_connect(struct metro_device *d)
{
	if (d->handle)
		return METRO_OK;
	char why[256] = "";
	int err = d->drv->open(&d->conn, &d->handle, why, sizeof why);
	if (err) {
		d->handle = NULL;
		snprintf(d->err, sizeof d->err, "%s", why[0] ? why : metro_strerror(err));
		d->next_attempt_ns = d->now() + (uint64_t)d->backoff_ms * 1000000u;
		d->backoff_ms = d->backoff_ms * 2 > METRO_DEVICE_BACKOFF_MAX_MS
					? METRO_DEVICE_BACKOFF_MAX_MS
					: d->backoff_ms * 2;
		metro_log_limited(&d->rl, METRO_LOG_WARNING, "rig %s: %s", d->conn.rig_id, d->err);
		return err;
	}
	d->drv->describe(d->handle, d->desc, sizeof d->desc);
	d->backoff_ms = METRO_DEVICE_BACKOFF_MIN_MS;
	pthread_mutex_lock(&d->lock);
	if (d->ever_connected)
		d->st.reconnects++;
	d->st.connected = 1;
	pthread_mutex_unlock(&d->lock);
	if (d->ever_connected)
		metro_log_limited(&d->rl_up, METRO_LOG_NOTICE, "rig %s: %s connected again",
				  d->conn.rig_id, d->desc);
	d->ever_connected = 1;
	d->rl.window_start_ns = 0; /* the next failure is news again */
	if (d->conn.profile->seq[METRO_SEQ_ON_CONNECT].n) {
		d->in_on_connect = 1;
		err = metro_device_sequence(d, METRO_SEQ_ON_CONNECT);
		d->in_on_connect = 0;
		if (err) {
			/* A device that did not take its start-up sequence is not usable: the
			 * connection counts as failed, with the backoff of a failed connect. */
			metro_device_disconnect(d);
			d->next_attempt_ns = d->now() + (uint64_t)d->backoff_ms * 1000000u;
			metro_log_limited(&d->rl, METRO_LOG_WARNING, "rig %s: %s", d->conn.rig_id,
					  d->err);
			return err;
		}
	}
	return METRO_OK;
}

/* Connect if needed, respecting the backoff.  Returns 0 or an error without waiting. */
static int ensure(struct metro_device *d)
{
	if (d->handle)
		return METRO_OK;
	if (d->in_on_connect)
		return METRO_E_IO; /* the sequence lost the connection: the connect fails */
	if (d->next_attempt_ns && d->now() < d->next_attempt_ns) {
		/* keep d->err: it says why the device is down */
		return METRO_E_IO;
	}
	return metro_device_connect(d);
}

static void count(struct metro_device *d, int err, uint64_t dt)
{
	pthread_mutex_lock(&d->lock);
	d->st.transactions++;
	d->st.last_latency_ns = dt;
	if (dt > d->st.max_latency_ns)
		d->st.max_latency_ns = dt;
	switch (err) {
	case METRO_OK:
		d->st.ok++;
		break;
	case METRO_E_TIMEOUT:
		d->st.timeouts++;
		break;
	case METRO_E_IO:
	case METRO_E_CLOSED:
		d->st.io_errors++;
		break;
	case METRO_E_PROTO:
		d->st.proto_errors++;
		break;
	case METRO_E_DEVICE:
		d->st.device_errors++;
		break;
	default:
		d->st.other_errors++;
		break;
	}
	pthread_mutex_unlock(&d->lock);
}

/* After a transport-level failure the connection state is unknown (a late reply may still
 * arrive and be taken for the answer to the next request), so the connection is dropped and
 * the next attempt reconnects.  Timeouts and framing errors on a serial line flush instead of
 * reconnecting: the driver handles that inside read/write. */
static void after_error(struct metro_device *d, int err)
{
	if (err == METRO_E_CLOSED || err == METRO_E_IO ||
	    (err == METRO_E_TIMEOUT && d->conn.profile->transport == METRO_TRANSPORT_MODBUS &&
	     d->conn.conn->host)) {
		metro_device_disconnect(d);
		d->next_attempt_ns = 0; /* first reconnect is immediate, backoff after failures */
	}
}

/* The usual causes of a failure, for the person reading the message. */
static const char *hint(const struct metro_device *d, int err, const char *text)
{
	if (err == METRO_E_TIMEOUT && d->conn.profile->transport == METRO_TRANSPORT_MODBUS)
		return "no reply: check the unit id, the address or port and the line settings "
		       "(a device ignores a request for another unit id)";
	if (err == METRO_E_TIMEOUT)
		return "no reply: check the port, the line settings and the command template";
	if (strstr(text, "Illegal data address"))
		return "the device has no such register: check the channel's table and its "
		       "address (0-based, not 40001-style)";
	if (strstr(text, "Illegal function"))
		return "the device does not serve this table: check the channel's table";
	return NULL;
}

/* Name the channel behind a failed read (for a read of several channels, the first that
 * fails alone, found by asking for each once) with its profile line, and add a hint. */
static void annotate(struct metro_device *d, const struct metro_channel *const *chs, size_t n,
		     int err)
{
	const struct metro_channel *bad = n == 1 ? chs[0] : NULL;
	char text[640];
	snprintf(text, sizeof text, "%s", d->err);
	/* Only for a mapping error (not a transient device failure): the extra requests cost
	 * time, and a mapping error is what a person has to find. */
	int mapping = strstr(text, "Illegal data address") || strstr(text, "Illegal function");
	if (!bad && err == METRO_E_DEVICE && mapping && d->handle) {
		for (size_t i = 0; i < n && !bad; i++) {
			double v;
			uint64_t t0 = d->now();
			int e1 = d->drv->read(d->handle, &chs[i], 1, &v);
			count(d, e1, d->now() - t0);
			if (e1 == METRO_E_DEVICE) {
				bad = chs[i];
				snprintf(text, sizeof text, "%s", d->drv->last_error(d->handle));
			}
		}
	}
	const char *h = hint(d, err, text);
	if (bad)
		snprintf(d->err, sizeof d->err, "channel %s (%s:%u): %s%s%s", bad->name,
			 d->conn.profile->path, bad->line, text, h ? " — hint: " : "", h ? h : "");
	else
		snprintf(d->err, sizeof d->err, "%s (%zu channels)%s%s", text, n,
			 h ? " — hint: " : "", h ? h : "");
}

int metro_device_read(struct metro_device *d, const struct metro_channel *const *chs, size_t n,
		      double *values)
{
	long tries = d->conn.conn->retries + 1;
	int err = METRO_E_IO;
	for (long t = 0; t < tries; t++) {
		if (t) {
			pthread_mutex_lock(&d->lock);
			d->st.retries++;
			pthread_mutex_unlock(&d->lock);
		}
		err = ensure(d);
		if (err)
			return err;
		uint64_t t0 = d->now();
		err = d->drv->read(d->handle, chs, n, values);
		count(d, err, d->now() - t0);
		if (!err)
			return METRO_OK;
		snprintf(d->err, sizeof d->err, "%s", d->drv->last_error(d->handle));
		annotate(d, chs, n, err);
		after_error(d, err);
		if (!metro_err_retryable(err))
			break;
	}
	metro_log_limited(&d->rl, METRO_LOG_WARNING, "rig %s: %s (%s)", d->conn.rig_id, d->err,
			  metro_strerror(err));
	return err;
}

int metro_device_read1(struct metro_device *d, const struct metro_channel *ch, double *value)
{
	return metro_device_read(d, &ch, 1, value);
}

/* What the device will hold after writing `value`: the codec's own rounding applied. */
static int representable(const struct metro_channel *ch, double value, double *out)
{
	if (ch->table == METRO_TABLE_COIL || ch->read_cmd) {
		*out = value;
		return METRO_OK;
	}
	uint16_t regs[4] = {0, 0, 0, 0};
	int err = metro_codec_encode(&ch->codec, value, regs, ch->nregs);
	if (!err)
		err = metro_codec_decode(&ch->codec, regs, ch->nregs, out);
	return err;
}

static int confirm(struct metro_device *d, const struct metro_channel *ch, double expect);

int metro_device_write(struct metro_device *d, const struct metro_channel *ch, double value)
{
	if (!ch->writable) {
		snprintf(d->err, sizeof d->err, "%s: channel %s is not writable in profile %s",
			 d->desc, ch->name, d->conn.profile->path);
		return METRO_E_INVAL;
	}
	double expect;
	int err = representable(ch, value, &expect);
	if (err) {
		snprintf(d->err, sizeof d->err, "%s: channel %s: %g cannot be represented", d->desc,
			 ch->name, value);
		return err;
	}
	long tries = d->conn.conn->retries + 1;
	for (long t = 0; t < tries; t++) {
		if (t) {
			pthread_mutex_lock(&d->lock);
			d->st.retries++;
			pthread_mutex_unlock(&d->lock);
		}
		err = ensure(d);
		if (err)
			return err;
		uint64_t t0 = d->now();
		err = d->drv->write(d->handle, ch, value);
		count(d, err, d->now() - t0);
		if (err) {
			snprintf(d->err, sizeof d->err, "%s", d->drv->last_error(d->handle));
			annotate(d, &ch, 1, err);
			after_error(d, err);
			if (!metro_err_retryable(err))
				return err;
			continue;
		}
		return confirm(d, ch, expect);
	}
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1)
		;
}

/* Poll ch until it reads want, for at most ms.  Returns 0, METRO_E_TIMEOUT with the last
 * value in *last, or the read's error. */
static int await_value(struct metro_device *d, const struct metro_channel *ch, double want, long ms,
		       double *last)
{
	uint64_t deadline = metro_now_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		int err = metro_device_read1(d, ch, last);
		if (err)
			return err;
		if (*last == want)
			return METRO_OK;
		if (metro_now_ns() >= deadline)
			return METRO_E_TIMEOUT;
		sleep_ms(ms < 200 ? 5 : 20);
	}
}

/* Confirm a write as the profile says: read back equal to what the codec can hold, read back
 * the value the device sets itself (a self-clearing bit), or not at all. */
static int confirm(struct metro_device *d, const struct metro_channel *ch, double expect)
{
	double back = NAN;
	int err;
	switch (ch->readback) {
	case METRO_READBACK_NONE:
		pthread_mutex_lock(&d->lock);
		d->st.unconfirmed_writes++;
		pthread_mutex_unlock(&d->lock);
		return METRO_OK;
	case METRO_READBACK_EXPECT:
		err = await_value(d, ch, ch->expect, ch->expect_ms, &back);
		if (err == METRO_E_TIMEOUT) {
			pthread_mutex_lock(&d->lock);
			d->st.readback_mismatches++;
			pthread_mutex_unlock(&d->lock);
			snprintf(d->err, sizeof d->err,
				 "%s: channel %s (%s:%u): wrote %.9g, expected to read %.9g within "
				 "%ld ms (expect:), read %.9g",
				 d->desc, ch->name, d->conn.profile->path, ch->line, expect,
				 ch->expect, ch->expect_ms, back);
			return METRO_E_DEVICE;
		}
		return err;
	case METRO_READBACK_EXACT:
	default:
		break;
	}
	err = metro_device_read1(d, ch, &back);
	if (err)
		return err;
	if (back != expect && !(isnan(back) && isnan(expect))) {
		pthread_mutex_lock(&d->lock);
		d->st.readback_mismatches++;
		pthread_mutex_unlock(&d->lock);
		snprintf(d->err, sizeof d->err,
			 "%s: channel %s (%s:%u): wrote %.9g, read back %.9g (hint: check type, "
			 "scale and "
			 "word order; a bit the device clears itself needs 'expect:', a device "
			 "that cannot echo a write 'readback: false', one that takes writes only "
			 "in remote control an on_connect or before_run sequence)",
			 d->desc, ch->name, d->conn.profile->path, ch->line, expect, back);
		return METRO_E_DEVICE;
	}
	return METRO_OK;
}

int metro_device_sequence(struct metro_device *d, enum metro_seq_when w)
{
	const struct metro_profile *p = d->conn.profile;
	const struct metro_sequence *q = &p->seq[w];
	for (size_t i = 0; i < q->n; i++) {
		const struct metro_seq_step *s = &q->steps[i];
		const struct metro_channel *ch = s->channel >= 0 ? &p->channels[s->channel] : NULL;
		int err = METRO_OK;
		double last = NAN;
		char why[640];
		if (!ch && s->kind != METRO_STEP_DELAY) {
			snprintf(d->err, sizeof d->err, "%s[%zu] (%s:%u): a step without a channel",
				 metro_seq_name(w), i, p->path, s->line);
			return METRO_E_INVAL; /* the loader never makes one */
		}
		switch (s->kind) {
		case METRO_STEP_WRITE:
			err = metro_device_write(d, ch, s->value);
			snprintf(why, sizeof why, "%s", d->err);
			break;
		case METRO_STEP_WAIT:
			err = ensure(d);
			if (!err)
				err = await_value(d, ch, s->value, s->timeout_ms, &last);
			if (err == METRO_E_TIMEOUT)
				snprintf(why, sizeof why,
					 "%s: waited %ld ms for %s = %.9g, it reads %.9g", d->desc,
					 s->timeout_ms, ch->name, s->value, last);
			else
				snprintf(why, sizeof why, "%s", d->err);
			break;
		case METRO_STEP_DELAY:
			sleep_ms(s->timeout_ms);
			break;
		}
		if (err) {
			snprintf(d->err, sizeof d->err, "%s[%zu] (%s:%u): %s", metro_seq_name(w), i,
				 p->path, s->line, why);
			return err;
		}
	}
	return METRO_OK;
}

int metro_device_raw(struct metro_device *d, const struct metro_channel *ch, uint16_t *regs,
		     size_t cap, size_t *n)
{
	*n = 0;
	if (d->conn.profile->transport != METRO_TRANSPORT_MODBUS || !d->drv->query) {
		snprintf(d->err, sizeof d->err, "%s: raw registers are for Modbus channels",
			 d->desc);
		return METRO_E_UNSUPPORTED;
	}
	int bits = ch->table == METRO_TABLE_COIL || ch->table == METRO_TABLE_DISCRETE;
	size_t want = bits ? 1 : ch->nregs;
	if (want > cap)
		return METRO_E_INVAL;
	int err = ensure(d);
	if (err)
		return err;
	char req[64], reply[512];
	snprintf(req, sizeof req, "read %s %u %zu", metro_table_name(ch->table), ch->address, want);
	err = d->drv->query(d->handle, req, reply, sizeof reply);
	if (err) {
		snprintf(d->err, sizeof d->err, "%s", d->drv->last_error(d->handle));
		annotate(d, &ch, 1, err);
		after_error(d, err);
		return err;
	}
	char *s = reply;
	for (size_t i = 0; i < want; i++) {
		char *end;
		unsigned long v = strtoul(s, &end, 0);
		if (end == s || v > 0xffff) {
			snprintf(d->err, sizeof d->err, "%s: raw read of %s: bad reply '%s'",
				 d->desc, ch->name, reply);
			return METRO_E_PROTO;
		}
		regs[i] = (uint16_t)v;
		s = end;
	}
	*n = want;
	return METRO_OK;
}

void metro_device_stats(struct metro_device *d, struct metro_device_stats *out)
{
	pthread_mutex_lock(&d->lock);
	*out = d->st;
	pthread_mutex_unlock(&d->lock);
}

const char *metro_device_last_error(const struct metro_device *d)
{
	return d->err;
}

const char *metro_device_describe(const struct metro_device *d)
{
	return d->desc;
}
