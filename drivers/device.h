/* device.h — one connected device: a driver, its connection, and the policy above drivers.
 *
 * Retrying, reconnecting with capped exponential backoff, read-back of writes, error
 * classification and the per-device counters live here, once, for every driver.  A rig actor
 * owns its devices; nothing here is thread-safe beyond that single owner, except
 * metro_device_stats(), which copies counters under a lock for the health documents.
 *
 * Bounds: a call never takes longer than (retries + 1) × timeout plus the driver's own
 * overhead; while the device is in backoff after a failed reconnect, calls fail at once with
 * METRO_E_IO instead of waiting (the caller sees the outage immediately and the rig is not
 * stalled by a dead line).
 */
#ifndef METRO_DEVICE_H
#define METRO_DEVICE_H

#include <pthread.h>
#include <stdint.h>

#include "driver.h"

struct metro_device_stats {
	uint64_t transactions; /* read or write calls that reached the driver */
	uint64_t ok;
	uint64_t timeouts;	/* METRO_E_TIMEOUT */
	uint64_t io_errors;	/* METRO_E_IO, METRO_E_CLOSED */
	uint64_t proto_errors;	/* METRO_E_PROTO: CRC, framing, malformed reply */
	uint64_t device_errors; /* METRO_E_DEVICE: exception answered by the device */
	uint64_t other_errors;	/* METRO_E_INVAL, METRO_E_RANGE: bad argument, unrepresentable */
	uint64_t retries;
	uint64_t reconnects; /* successful (re)connections after the first */
	uint64_t readback_mismatches;
	uint64_t unconfirmed_writes; /* to channels with `readback: false` */
	uint64_t last_latency_ns, max_latency_ns;
	int connected;
};

/* Backoff between reconnection attempts: starts at min, doubles to max. */
#define METRO_DEVICE_BACKOFF_MIN_MS 100
#define METRO_DEVICE_BACKOFF_MAX_MS 5000

struct metro_device;

/* Create a device (does not connect yet; the first call does).  Returns 0 and *out, or
 * METRO_E_INVAL when the driver does not serve the profile's transport. */
int metro_device_new(const struct metro_driver *drv, const struct metro_driver_conn *conn,
		     struct metro_device **out);
void metro_device_destroy(struct metro_device **pd);

/* Read channels: all values or an error (and no value). */
int metro_device_read(struct metro_device *d, const struct metro_channel *const *chs, size_t n,
		      double *values);
/* Read one channel. */
int metro_device_read1(struct metro_device *d, const struct metro_channel *ch, double *value);
/* Write a writable channel, then confirm it as the profile says: by default read it back and
 * compare with what the codec can represent; `expect: V` waits until it reads V (a bit the
 * device clears itself); `readback: false` takes the device's acknowledgement.  A mismatch is
 * METRO_E_DEVICE: the device did not take the value. */
int metro_device_write(struct metro_device *d, const struct metro_channel *ch, double value);

/* Run one of the profile's sequences (on_connect runs by itself after every connect; a
 * connect whose on_connect fails counts as a failed connect).  Returns 0, or the first
 * failing step's error with its text (the step, the profile line) in last_error. */
int metro_device_sequence(struct metro_device *d, enum metro_seq_when w);

/* Connect now if not connected (ignores backoff).  Returns 0 or the driver's error. */
int metro_device_connect(struct metro_device *d);
void metro_device_disconnect(struct metro_device *d);

/* The raw registers behind a Modbus channel (bits as one 0/1 word), read through the driver's
 * diagnostic query, for commissioning and `metroctl probe --raw`: *n words into regs (cap at
 * least the channel's nregs).  METRO_E_UNSUPPORTED for other transports. */
int metro_device_raw(struct metro_device *d, const struct metro_channel *ch, uint16_t *regs,
		     size_t cap, size_t *n);

void metro_device_stats(struct metro_device *d, struct metro_device_stats *out);
/* The last error's text (names the device and the register or command); "" if none. */
const char *metro_device_last_error(const struct metro_device *d);
const char *metro_device_describe(const struct metro_device *d);

/* Test hook: a clock in nanoseconds (CLOCK_MONOTONIC by default). */
void metro_device_set_clock(struct metro_device *d, uint64_t (*now_ns)(void));

#endif
