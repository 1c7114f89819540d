/* rig.h — the rig actor: one thread per rig.
 *
 * All blocking device I/O of a rig happens on its own thread, so the main thread never waits on
 * a device.  The actor talks to the main thread only through an inproc PAIR socket (the "pipe"):
 * commands go down as [verb][json], documents and state changes come up as [kind][json].  The
 * drivers and the procedure engine (later issues) live inside this thread.
 *
 * Stopping an actor asks it to bring the rig to its safe state first and then joins it.
 */
#ifndef METRO_RIG_H
#define METRO_RIG_H

#include <jansson.h>

#include "batch.h"
#include "config.h"

struct metro_rig;

/* Start the actor for a rig.  conf is copied.  Returns 0 and *out, or METRO_E_IO when the
 * thread or the pipe cannot be created. */
int metro_rig_start(void *zctx, const struct metro_rig_conf *conf, struct metro_rig **out);
/* Ask the actor to reach its safe state and exit, then join it; takes NULL, clears *pr. */
void metro_rig_stop(struct metro_rig **pr);

/* Main-thread side of the pipe, for zmq_poll. */
void *metro_rig_pipe(struct metro_rig *r);
/* Read one message from the pipe without waiting (call when the pipe is readable).  Returns
 * its kind ("state", "reading", "health", "alarm", "run", ...; a static string) and the
 * document in *doc (the caller owns it), or NULL when nothing was waiting.  A "reading" comes
 * as text, not as a document (*doc is NULL): its body is metro_rig_reading() until the next
 * reading.  A point or a verdict comes typed in *res (the caller owns what it points to, *doc
 * is NULL; res->kind is METRO_DOC_KINDS for anything else).  State and health messages also
 * update the main thread's view of the rig. */
struct metro_result;
const char *metro_rig_receive(struct metro_rig *r, json_t **doc, struct metro_result *res);
/* The newest reading's body ("tick":..,"read_ns":..,"values":{..}, docenc.h), or NULL. */
const char *metro_rig_reading(const struct metro_rig *r, size_t *len);
/* The rig id as a JSON string literal. */
const char *metro_rig_id_quoted(const struct metro_rig *r);

/* Hand a validated batch to the actor (ownership passes, also on failure); it runs as soon as
 * the actor reads it.  The caller has checked that the rig is idle. */
int metro_rig_submit(struct metro_rig *r, struct metro_batch *b);
/* A run command for the actor's engine: pause, resume, stop, abort, halt, input. */
int metro_rig_command(struct metro_rig *r, const char *verb, json_t *doc);
/* Whether the rig's run has a pause requested and not resumed: what the engine holds once it
 * has read the commands sent so far.  The control API checks pause and resume against it
 * before answering, so that a second pause or a resume of a run not paused is refused to the
 * client instead of by the actor, later, in its log.  Cleared by metro_rig_submit. */
int metro_rig_pause_requested(const struct metro_rig *r);

const struct metro_rig_conf *metro_rig_conf(const struct metro_rig *r);
/* Current state name as last reported by the actor ("starting", "idle", ...). */
const char *metro_rig_state(const struct metro_rig *r);
/* Whether the rig's device was connected at the last health report. */
int metro_rig_connected(const struct metro_rig *r);
/* The device counters of the last health report (the `device` object of health.<rig>:
 * transactions, errors by kind, retries, reconnects, readback_mismatches, last_error, ...),
 * borrowed; NULL before the first report. */
json_t *metro_rig_device(const struct metro_rig *r);

#endif
