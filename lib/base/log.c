#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

static atomic_int log_level = METRO_LOG_INFO;

void metro_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int metro_log_get_level(void)
{
	return atomic_load(&log_level);
}

/* One fprintf per line keeps lines from different threads whole: stdio locks the stream. */
static void vlog(int prio, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vlog(int prio, const char *prefix, const char *fmt, va_list ap)
{
	char *msg = metro_vasprintf(fmt, ap);
	fprintf(stderr, "<%d>%s%s\n", prio, prefix, msg);
	free(msg);
}

void metro_log(int prio, const char *fmt, ...)
{
	if (prio > atomic_load(&log_level))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(prio, "", fmt, ap);
	va_end(ap);
}

uint64_t metro_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int metro_log_limited(struct metro_ratelimit *rl, int prio, const char *fmt, ...)
{
	uint64_t now = metro_now_ns();
	uint64_t win = (uint64_t)(rl->interval_s > 0 ? rl->interval_s : 60) * 1000000000u;
	if (rl->window_start_ns && now - rl->window_start_ns < win) {
		rl->suppressed++;
		return 0;
	}
	if (prio > atomic_load(&log_level))
		return 0;
	char prefix[64] = "";
	if (rl->suppressed)
		snprintf(prefix, sizeof prefix, "(%u similar suppressed) ", rl->suppressed);
	rl->window_start_ns = now;
	rl->suppressed = 0;
	va_list ap;
	va_start(ap, fmt);
	vlog(prio, prefix, fmt, ap);
	va_end(ap);
	return 1;
}
