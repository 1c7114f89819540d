/* log.h — logging to stderr with syslog-style "<N>" priority prefixes.
 *
 * journald turns the prefix into the record's priority, so metrod writes plain lines and lets
 * systemd do the rest.  Repeated device errors go through metro_log_limited(), which logs the
 * first occurrence, counts the repeats and reports them once the condition changes or the
 * interval has passed: an operator sees the transition to failing and back, not every poll.
 */
#ifndef METRO_LOG_H
#define METRO_LOG_H

#include <stdint.h>

enum {
	METRO_LOG_ERR = 3,
	METRO_LOG_WARNING = 4,
	METRO_LOG_NOTICE = 5,
	METRO_LOG_INFO = 6,
	METRO_LOG_DEBUG = 7,
};

/* Messages with a priority above this are dropped (default METRO_LOG_INFO). */
void metro_log_set_level(int level);
int metro_log_get_level(void);

void metro_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define metro_err(...) metro_log(METRO_LOG_ERR, __VA_ARGS__)
#define metro_warn(...) metro_log(METRO_LOG_WARNING, __VA_ARGS__)
#define metro_notice(...) metro_log(METRO_LOG_NOTICE, __VA_ARGS__)
#define metro_info(...) metro_log(METRO_LOG_INFO, __VA_ARGS__)
#define metro_debug(...) metro_log(METRO_LOG_DEBUG, __VA_ARGS__)

/* State for one rate-limited message source (one per device, say).  Zero-initialise. */
struct metro_ratelimit {
	uint64_t window_start_ns; /* CLOCK_MONOTONIC start of the current window */
	unsigned suppressed;	  /* messages swallowed in the current window */
	int interval_s;		  /* window length; 0 means 60 s */
};

/* Log like metro_log() but at most once per window per source; when a window with suppressed
 * messages ends, the next message says how many were suppressed.  Returns 1 if logged. */
int metro_log_limited(struct metro_ratelimit *rl, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Monotonic clock in nanoseconds. */
uint64_t metro_now_ns(void);

#endif
