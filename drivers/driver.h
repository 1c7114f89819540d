/* driver.h — the driver ops table.
 *
 * A driver is a const table of function pointers; the built-in ones are listed in one explicit
 * registry (registry.c) and more can be loaded from shared objects at run time (plugin.c).
 * Drivers know transports and wire protocols; what a channel means (address, type, word order,
 * scale, command template) comes from the rig profile (profile.h), so a new rig model is a new
 * profile file, not new C code.
 *
 * Drivers do no retrying and no reconnecting: that lives once, above them, in device.c.  They
 * classify every failure with the error enum (error.h): METRO_E_TIMEOUT, METRO_E_IO,
 * METRO_E_PROTO and METRO_E_CLOSED are retryable; METRO_E_DEVICE (an exception answered by the
 * device) and METRO_E_INVAL are not.  A bad reply is an error, never a value.
 */
#ifndef METRO_DRIVER_H
#define METRO_DRIVER_H

#include <stddef.h>

#include "profile.h"

/* Bumped whenever struct metro_driver or the types it uses change layout or meaning (2: struct
 * metro_channel gained the write confirmation, struct metro_profile the sequences). */
#define METRO_DRIVER_ABI_VERSION 2u

/* Where a rig's device is: the configuration's `connection:` (docs/configuration.md).  Part of
 * the plugin ABI: a change here bumps METRO_DRIVER_ABI_VERSION. */
struct metro_connection_conf {
	/* modbus-tcp (and TCP plugins) */
	char *host;
	long port;
	/* modbus-rtu, serial-line */
	char *device;
	long baud;
	char parity; /* 'N', 'E', 'O' */
	long data_bits;
	long stop_bits;
	/* common */
	long unit; /* Modbus unit id */
	long timeout_ms;
	long retries;
};

/* What a driver gets when it opens a connection. */
struct metro_driver_conn {
	const char *rig_id;
	const struct metro_connection_conf *conn;
	const struct metro_profile *profile;
};

struct metro_driver {
	unsigned abi_version; /* METRO_DRIVER_ABI_VERSION */
	const char *name;     /* as written in the configuration's `driver:` */
	const char *summary;
	/* The transport this driver serves ("modbus" or "serial-line"): the profile must match. */
	const char *transport;
	/* Open a connection.  Returns 0 and *handle, or a classed error with its text in err. */
	int (*open)(const struct metro_driver_conn *c, void **handle, char *err, size_t errlen);
	/* Close; takes NULL. */
	void (*close)(void *handle);
	/* Read n channels of the profile into values[0..n): all of them, or an error and nothing.
	 * Drivers may coalesce neighbouring registers into one transaction. */
	int (*read)(void *handle, const struct metro_channel *const *chs, size_t n, double *values);
	/* Write one writable channel. */
	int (*write)(void *handle, const struct metro_channel *ch, double value);
	/* One line naming the connection ("modbus-tcp 127.0.0.1:1502 unit 1"). */
	void (*describe)(void *handle, char *buf, size_t len);
	/* Optional: device identification (vendor, model, firmware); NULL if unsupported. */
	int (*identify)(void *handle, char *buf, size_t len);
	/* Optional: a raw request for diagnostics; NULL if unsupported. */
	int (*query)(void *handle, const char *request, char *reply, size_t len);
	/* Text of the last failure with the device and register or command named; never NULL. */
	const char *(*last_error)(void *handle);
};

/* The symbol a plugin shared object exports (see plugin.c and docs/drivers.md). */
#define METRO_DRIVER_PLUGIN_SYMBOL "metro_driver_plugin"

/* Built-in and loaded drivers, by name; NULL when unknown. */
const struct metro_driver *metro_driver_find(const char *name);
/* Names of every known driver, for messages ("modbus-tcp, modbus-rtu, ..."). */
void metro_driver_names(char *buf, size_t len);
/* Load a plugin shared object and register its driver.  Refuses a mismatched ABI version or a
 * name that is already taken.  Returns 0, or METRO_E_INVAL/METRO_E_NOTFOUND with a reason in
 * why (static or in buf). */
int metro_driver_load_plugin(const char *path, char *why, size_t whylen);

extern const struct metro_driver metro_driver_modbus_tcp;
extern const struct metro_driver metro_driver_modbus_rtu;
extern const struct metro_driver metro_driver_serial_line;

#endif
