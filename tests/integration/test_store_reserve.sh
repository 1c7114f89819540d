#!/usr/bin/env bash
# The disk is watched (store.reserve_mb): below the reserve no run starts (`store-reserve`,
# nothing recorded) and an alarm.store `store-space-low` warning is raised; when the reserve
# is met again (here: lowered by a reload) the alarm is cleared and runs start again.  The
# reserve is set above any disk (1 TB) so that no file system needs filling.
set -u
. tests/lib/rigs.sh
gas_bench 120
sed -i "s|store: {path: $TMP/records.db}|store: {path: $TMP/records.db, reserve_mb: 1000000}|" "$TMP/metrod.yaml"
check "reserve set" "$(grep -c 'reserve_mb: 1000000' "$TMP/metrod.yaml")" "1"
/usr/bin/python3 tests/lib/subscribe.py "$PUB" "$TMP/sub.jsonl" alarm. health. >"$TMP/sub.err" 2>&1 &
PIDS+=($!)
start_metrod "$TMP/metrod.yaml"
for _ in $(seq 100); do grep -q '"topic": "health\.' "$TMP/sub.jsonl" 2>/dev/null && break; sleep 0.1; done
mctl --json start "$TMP/batch.yaml" >"$TMP/start.out" 2>&1
check "a run below the reserve is refused (exit 4)" "$?" "4"
check "... with code store-reserve" "$(json "d['error']['code']" <"$TMP/start.out" 2>/dev/null)" "store-reserve"
check "... naming the reserve" "$(grep -c 'below the reserve of 1000000 MB (store.reserve_mb)' "$TMP/start.out")" "1"
check "nothing was recorded for it" "$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute("select count(*) from runs").fetchone()[0])' "$TMP/records.db")" "0"
alarm() { # the last alarm.store document's "alarm active severity", or nothing
	grep '"topic": "alarm.store"' "$TMP/sub.jsonl" | tail -n 1 |
		json "' '.join(str(d['doc'][k]) for k in ('alarm', 'active', 'severity'))" 2>/dev/null
}
# The alarm went out at start, before the subscriber was connected perhaps: the daemon looks
# again every 5 s but raises only on a change, so read it from the store's replay as well.
raised=$(mctl --json replay 1 2>/dev/null | json "[x['doc']['alarm'] for x in d['documents'] if x['topic']=='alarm.store' and x['doc']['active']]" 2>/dev/null)
check "alarm.store store-space-low raised (stored, replayable)" "$raised" "['store-space-low']"
sed -i "s|reserve_mb: 1000000|reserve_mb: 0|" "$TMP/metrod.yaml"
kill -HUP "$METROD_PID"
for _ in $(seq 150); do [ "$(alarm)" = "store-space-low False warning" ] && break; sleep 0.1; done
check "the alarm is cleared once the reserve is met" "$(alarm)" "store-space-low False warning"
mctl --json start "$TMP/batch.yaml" >"$TMP/start2.out" 2>&1
check "a run starts again" "$?" "0"
finish
