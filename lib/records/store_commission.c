/* store_commission.c — a rig's commissioning as the records hold it (store.h, docs/operations.md
 * "Commissioning a rig").
 *
 * A rig is commissioned for a profile when its newest commissioning run (a run whose
 * verification type is `commissioning`) drove that very profile (its SHA-256), ended `done`,
 * and every position of it passed (a corrected verdict counts as corrected).  The answer comes
 * from the chained records themselves, so a commissioning cannot be claimed without the run
 * that proved it.
 */
#include "store_int.h"

#include <string.h>

#include "error.h"
#include "util.h"

int metro_store_run_is_commissioning(struct metro_store *s, int64_t run, int *yes)
{
	int64_t n = 0;
	int err = st_query_int(s, &n,
			       "SELECT count(*) FROM runs WHERE id = ? AND verification_type = "
			       "'commissioning'",
			       "l", run);
	*yes = !err && n > 0;
	return err;
}

int metro_store_commissioning(struct metro_store *s, const char *rig,
			      struct metro_store_commissioned *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st = st_query(
		s,
		"SELECT r.id, r.state, coalesce(r.ended, ''), r.operator, coalesce(p.sha256, ''), "
		"(SELECT count(*) FROM verdicts v WHERE v.run = r.id AND NOT EXISTS (SELECT 1 "
		"FROM verdicts c WHERE c.corrects = v.id)), "
		"(SELECT count(*) FROM verdicts v WHERE v.run = r.id AND v.verdict = 'pass' AND "
		"NOT "
		"EXISTS (SELECT 1 FROM verdicts c WHERE c.corrects = v.id)) "
		"FROM runs r LEFT JOIN profiles p ON p.id = r.profile WHERE r.rig = ? AND "
		"r.verification_type = 'commissioning' AND r.state <> 'running' ORDER BY r.id DESC "
		"LIMIT 1",
		"t", rig);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		out->run = sqlite3_column_int64(st, 0);
		metro_strlcpy(out->state, (const char *)sqlite3_column_text(st, 1),
			      sizeof out->state);
		metro_strlcpy(out->ended, (const char *)sqlite3_column_text(st, 2),
			      sizeof out->ended);
		metro_strlcpy(out->operator_id, (const char *)sqlite3_column_text(st, 3),
			      sizeof out->operator_id);
		metro_strlcpy(out->profile_sha256, (const char *)sqlite3_column_text(st, 4),
			      sizeof out->profile_sha256);
		int64_t all = sqlite3_column_int64(st, 5), passed = sqlite3_column_int64(st, 6);
		out->passed = !strcmp(out->state, "done") && all > 0 && passed == all;
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : st_sqlfail(s, rc, "runs");
	}
	sqlite3_reset(st);
	return err;
}
