/* error.h — the one error enum of metrod.
 *
 * Every fallible function returns an int: 0 (METRO_OK) on success or one of the negative
 * codes below.  Foreign error codes (errno, libmodbus, libzmq, SQLite) are translated where
 * the foreign library is called, so callers never see them.  metro_err_retryable() tells the
 * reconnect logic which failures are worth another attempt.
 */
#ifndef METRO_ERROR_H
#define METRO_ERROR_H

enum metro_err {
	METRO_OK = 0,
	METRO_E_INVAL = -1,    /* bad argument or bad input (permanent) */
	METRO_E_NOMEM = -2,    /* out of memory (we abort instead, kept for foreign code) */
	METRO_E_IO = -3,       /* I/O error on a device, file or socket (retryable) */
	METRO_E_TIMEOUT = -4,  /* no answer in time (retryable) */
	METRO_E_PROTO = -5,    /* malformed reply, CRC or framing error (retryable) */
	METRO_E_DEVICE = -6,   /* the device answered with an exception (permanent) */
	METRO_E_NOTFOUND = -7, /* no such file, key, channel, record */
	METRO_E_EXISTS = -8,   /* already exists */
	METRO_E_STATE = -9,    /* not allowed in the current state */
	METRO_E_RANGE = -10,   /* value out of range or not representable */
	METRO_E_DENIED = -11,  /* refused: permission, role, expired standard */
	METRO_E_CORRUPT = -12, /* stored data fails verification */
	METRO_E_UNSUPPORTED = -13,
	METRO_E_CLOSED = -14, /* connection closed by the peer (retryable) */
};

/* Short, stable English text for an error code; never NULL. */
const char *metro_strerror(int err);

/* Stable machine name ("timeout", "invalid", ...) used in JSON error objects. */
const char *metro_errname(int err);

/* Nonzero when the failure is transient and the operation may be retried. */
int metro_err_retryable(int err);

#endif
