/* store_clock.c — the newest wall time the record store holds (store.h, docs/records.md "Wall
 * time").
 *
 * Records carry the wall time they were made at.  A clock set back would stamp new records
 * earlier than the ones before them; the daemon refuses to start runs while its clock is behind
 * the newest record (daemon/control.c).  The newest time is found once from the records — the
 * runs' start and end times and the newest audit event, checkpoint, point, verdict, input and
 * certificate, leaving out whatever was recorded before the last `clock.accepted` audit event —
 * and then kept up to date by every chained write (st_clock_note).
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

static int64_t wall_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "2026-12-03T14:44:05.123456Z" as microseconds since 1970 (0 when it is not such a time). */
static int64_t iso_us(const char *t)
{
	struct tm tm;
	int us = 0;
	memset(&tm, 0, sizeof tm);
	if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%6d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us) < 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + us;
}

static void us_iso(int64_t us, char out[40])
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%06dZ", (int)(us % 1000000));
}

void st_clock_note(struct metro_store *s)
{
	int64_t now = wall_now_us();
	if (now > s->wall_newest_us)
		s->wall_newest_us = now;
}

/* The newest wall time recorded at or after chain record ?1: of the runs (few) all, of the
 * other tables the newest row. */
/* clang-format off */
#define NEWEST_OF(col, t)                                                                         \
	" UNION ALL SELECT " col " FROM (SELECT " col ", chain_seq FROM " t                       \
	" ORDER BY id DESC LIMIT 1) WHERE chain_seq >= ?1"
static const char NEWEST_SQL[] =
	"SELECT max(t) FROM ("
	"SELECT max(max(started, coalesce(ended, ''))) AS t FROM runs WHERE chain_seq >= ?1"
	NEWEST_OF("time", "audit_events") NEWEST_OF("time", "checkpoints")
	NEWEST_OF("recorded", "points") NEWEST_OF("decided", "verdicts")
	NEWEST_OF("answered", "inputs") NEWEST_OF("issued", "certificates") ")";
#undef NEWEST_OF
/* clang-format on */

/* The newest of what is recorded after the last clock.accepted audit event (or ever). */
static int clock_load(struct metro_store *s)
{
	int64_t accepted = 0;
	int err = st_query_int(s, &accepted,
			       "SELECT coalesce(max(chain_seq), 0) FROM audit_events WHERE action "
			       "= 'clock.accepted'",
			       "");
	if (err)
		return err;
	char *newest = NULL;
	err = st_query_text(s, &newest, NEWEST_SQL, "l", accepted);
	if (err && err != METRO_E_NOTFOUND)
		return err;
	int64_t t = iso_us(newest);
	free(newest);
	if (t > s->wall_newest_us)
		s->wall_newest_us = t;
	s->wall_loaded = 1;
	return METRO_OK;
}

int metro_store_newest_time(struct metro_store *s, int64_t *us)
{
	*us = 0;
	if (!s->wall_loaded) {
		int err = clock_load(s);
		if (err)
			return err;
	}
	*us = s->wall_newest_us;
	return METRO_OK;
}

int metro_store_clock_accept(struct metro_store *s, const char *actor, const char *why)
{
	int64_t newest;
	int err = metro_store_newest_time(s, &newest);
	if (err)
		return err;
	char was[40], now[40];
	int64_t t = wall_now_us();
	us_iso(newest, was);
	us_iso(t, now);
	json_t *o = json_pack("{ss}", "newest_record", was);
	json_t *n = json_pack("{ss}", "clock", now);
	err = metro_store_audit(s, actor, "clock.accepted", "clock", o, n, why, NULL);
	json_decref(o);
	json_decref(n);
	if (!err)
		s->wall_newest_us = wall_now_us(); /* the records before it no longer count */
	return err;
}
