#include "device.h"

#include <math.h>
#include <stdio.h>
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
	char err[320];
	pthread_mutex_t lock; /* guards stats */
	struct metro_device_stats st;
	struct metro_ratelimit rl;    /* failures */
	struct metro_ratelimit rl_up; /* recoveries */
	uint64_t (*now)(void);
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
	return METRO_OK;
}

/* Connect if needed, respecting the backoff.  Returns 0 or an error without waiting. */
static int ensure(struct metro_device *d)
{
	if (d->handle)
		return METRO_OK;
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
			after_error(d, err);
			if (!metro_err_retryable(err))
				return err;
			continue;
		}
		double back;
		err = metro_device_read1(d, ch, &back);
		if (err)
			return err;
		if (back != expect && !(isnan(back) && isnan(expect))) {
			pthread_mutex_lock(&d->lock);
			d->st.readback_mismatches++;
			pthread_mutex_unlock(&d->lock);
			snprintf(d->err, sizeof d->err,
				 "%s: channel %s: wrote %.9g, read back %.9g", d->desc, ch->name,
				 expect, back);
			return METRO_E_DEVICE;
		}
		return METRO_OK;
	}
	return err;
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
