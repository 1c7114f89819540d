/* runs.h — the main thread's view of runs: built from the documents the rig actors publish,
 * it answers `runs`, `run`, `snapshot` and lets the control API check a command against the
 * state of the rig's run (is a run active, which prompt is open) without asking the actor.
 *
 * The record store is the system of record; this view holds the recent runs in memory so that
 * a client can see what is going on, and is rebuilt from the store when that is available.
 */
#ifndef METRO_RUNS_H
#define METRO_RUNS_H

#include <jansson.h>
#include <stddef.h>

struct metro_runs;

struct metro_runs *metro_runs_new(size_t keep);
void metro_runs_destroy(struct metro_runs **pr);

/* Fold one document of a rig ("run", "point", "verdict", "prompt") into the view. */
void metro_runs_update(struct metro_runs *r, const char *rig, const char *kind, json_t *doc);
/* Note a run submitted to a rig before its first document arrives. */
void metro_runs_submitted(struct metro_runs *r, const char *rig, const char *run_id);

/* Summaries of the runs, newest first (new reference). */
json_t *metro_runs_list(const struct metro_runs *r);
/* One run in full (new reference), or NULL. */
json_t *metro_runs_get(const struct metro_runs *r, const char *id);
/* The run active on a rig, or NULL. */
const char *metro_runs_active(const struct metro_runs *r, const char *rig);
/* The prompt waiting for an answer on a rig, or NULL. */
const char *metro_runs_prompt(const struct metro_runs *r, const char *rig);
/* The open prompt document of a rig's active run (borrowed), or NULL. */
json_t *metro_runs_prompt_doc(const struct metro_runs *r, const char *rig);
/* The active run of a rig as the view holds it (borrowed), or NULL. */
json_t *metro_runs_active_run(const struct metro_runs *r, const char *rig);
/* The open prompt of a rig's active run was answered (the answer is recorded and on its way
 * to the engine): it is no longer open, before the engine's closing document comes. */
void metro_runs_prompt_answered(struct metro_runs *r, const char *rig);
/* An answer decided the positions of `decides` ({"3": "fail"}) of the open judgement prompt of
 * a rig's active run: the view's prompt says so ("decided", and "open": the positions still
 * to decide) and closes when none is left, before the engine's documents come.  decides NULL:
 * the prompt is closed (typed readings). */
void metro_runs_prompt_decided(struct metro_runs *r, const char *rig, json_t *decides);

#endif
