/* server.h — the daemon's main thread: one event loop over the control socket, the rig actors'
 * pipes, a signalfd and timers.
 *
 * Nothing here blocks on a device: rigs run in their own threads (rig.h).  Signals arrive
 * through a signalfd, so no code runs in signal context.  A SIGHUP reload builds and validates a
 * whole new configuration and binds its endpoints before anything else of the running one is
 * given up (an endpoint whose CURVE keys changed is released and bound again, and given back
 * if the reload fails); if any step fails the running configuration stays as it was.
 */
#ifndef METRO_SERVER_H
#define METRO_SERVER_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "rig.h"
#include "store.h"
#include "docenc.h"
#include "guard.h"
#include "swid.h"

struct metro_server {
	struct metro_config *cfg;
	char *config_path;
	void *zctx;
	void *control; /* ROUTER */
	void *publish; /* PUB */
	void *zap;     /* REP: the ZAP handler of CURVE sockets */
	int sigfd;
	struct metro_rig **rigs;
	size_t nrigs;
	uint64_t start_ns;
	unsigned generation; /* 1 for the first configuration, +1 per successful reload */
	unsigned reloads_failed;
	char last_reload_error[256];
	int stopping;
	uint64_t requests;
	uint64_t seq; /* last published document's sequence number */
	uint64_t publish_drops;
	uint64_t run_counter;
	struct metro_runs *runs;
	struct metro_store *store; /* the system of record */
	uint64_t next_checkpoint_ns;
	/* the day (metro_date_days) the standards' due dates were last checked (0: check now),
	 * and when the event loop looks at the date next */
	long due_checked_day;
	uint64_t next_due_look_ns;
	struct metro_ratelimit store_rl;
	struct metro_guard *guard; /* the repeat cache and the bounded audit of refusals */
	int clock_behind;	   /* the clock-behind alarm is raised (control.c) */
	struct metro_ratelimit unauthorised_rl; /* requests refused for a key not allowed */
	const char *client; /* who sent the request being handled (metro_identity.who) */
	const struct metro_identity *ident; /* and how (NULL outside a request) */
	struct metro_swid swid;
	struct metro_stamp stamp; /* the short path of readings (docenc.h) */
	/* Fail closed (publish.c): the store's failure has been acted on (every run stopped,
	 * alarm.store published); and the positions of the runs in progress whose points could
	 * not be recorded: their verdict is recorded as error, never a pass or a fail. */
	int store_failure_seen;
	int space_low; /* the store's file system is below store.reserve_mb (alarm raised) */
	uint64_t next_space_look_ns, next_file_look_ns;
	struct metro_unrecorded {
		int64_t run;
		int position;
		char reason[300];
	} * unrecorded;
	size_t nunrecorded;
};

/* Create the server for a validated configuration (ownership of cfg passes to the server):
 * binds the endpoints, opens the record store (init_store: `--init-store`, store.h) and
 * starts the rig actors.  Returns 0 or an error (logged). */
int metro_server_new(struct metro_config *cfg, int init_store, struct metro_server **out);
/* Run the event loop until SIGTERM/SIGINT; returns the exit status. */
int metro_server_run(struct metro_server *s);
/* Stop every rig (safe state first) and free everything; takes NULL, clears *ps. */
void metro_server_destroy(struct metro_server **ps);

/* Re-read the configuration file (and the key files it names); apply it only when it is valid
 * and its endpoints bind.  Returns 0 when applied. */
int metro_server_reload(struct metro_server *s);

/* Who sent a control request, as the transport proved it (server.c resolves it for every
 * request, against the configuration in force):
 * - a person: their CURVE key (the Ed25519 key of the registry, as X25519), or an ipc://
 *   peer whose Unix user (SO_PEERCRED) is a person's `unix_user`: who is the person's id;
 * - a program client of the CURVE allowlist: who is its name, role its allowlist role;
 * - nobody proved: a loopback tcp:// client, or an ipc:// peer whose Unix user is no person:
 *   who is "unauthenticated" or "unix:USER", role is control.unauthenticated. */
struct metro_identity {
	char who[80];
	const struct metro_person *person; /* NULL unless a person authenticated */
	enum metro_role role;
	const char *how; /* "curve", "unix" or "none" */
};

/* Control requests (control.c): handle one request message and return the reply document
 * (never NULL; the caller owns it).  Malformed input gets an error reply and changes nothing.
 * peer is the ROUTER routing id of the connection it came on (peerlen bytes; NULL for none):
 * a repeat is answered from the cache only to the same connection and identity (guard.h). */
json_t *metro_control_handle(struct metro_server *s, const char *msg, size_t len,
			     const struct metro_identity *who, const void *peer, size_t peerlen);
/* The event loop's look at the control plane: the summaries of refusal windows that have ended
 * are recorded (guard.h), and the wall clock is compared with the newest record (the
 * clock-behind alarm raised or cleared, docs/records.md "Wall time"). */
void metro_control_tick(struct metro_server *s);

#define METRO_CONTROL_MAX_MSG 65536

/* Publish a document on topic "<kind>.<rig>" (or "<kind>" when rig is NULL), adding schema,
 * seq, station and time.  Takes ownership of doc.  Never blocks. */
void metro_server_publish(struct metro_server *s, const char *kind, const char *rig, json_t *doc);
/* Publish a document given as its encoded body (docenc.h): stamped with schema, station,
 * time, rig and seq without being parsed.  rig_q is the rig id as a JSON string. */
void metro_server_publish_body(struct metro_server *s, const char *kind, const char *rig,
			       const char *rig_q, const char *body, size_t len);
/* Publish a "standard-due" alarm on alarm.<rig> for every rig that uses a standard (or its
 * assessment certificate) due within due_warning_days of today, or past due (severity error).
 * Done at start, after a reload and once a day.  Returns the number of alarms published. */
size_t metro_server_check_due(struct metro_server *s);
/* Current UTC time as RFC 3339 with microseconds ("2026-11-28T12:00:00.123456Z"). */
void metro_time_rfc3339(char out[40]);
/* A typed result from a rig actor (evidence.h), recorded and stored as a document in one
 * transaction, then published; nothing that is not committed is published (publish.c):
 * - a run event; DONE closes the run's record with how it ended and its fault;
 * - a prompt (its document is the record);
 * - a point result, with its exact values;
 * - a meter's verdict, with its certificate or notice number (a pass earns a verification
 *   certificate, a fail a notice of nonconformity).
 * Returns the published document (new reference) or NULL when it could not be committed
 * (then nothing was published).  res stays the caller's. */
json_t *metro_server_record_result(struct metro_server *s, const char *rig,
				   const struct metro_result *res);
/* A result that could not be committed (res is what metro_server_record_result refused).
 * When the store has failed: metro_server_store_failed().  Otherwise a value was refused: a
 * point's position ends in `error` (the rig's engine is told; its verdict will be recorded as
 * error with the reason, whatever the engine says). */
void metro_server_record_refused(struct metro_server *s, struct metro_rig *rig,
				 const struct metro_result *res);
/* Act on a failed record store, once: every run in progress stops at once (rig to its safe
 * state, meters `error`, "record store failed: ..."), an alarm.store document goes out, the
 * log says it; `start` is refused from then on (control.c).  Returns nonzero when the store
 * has failed. */
int metro_server_store_failed(struct metro_server *s);
/* Look at the free space of the record store's file system: below store.reserve_mb, an
 * alarm.store `store-space-low` warning is raised (and cleared when space is back).  Returns
 * nonzero while below; *free_mb is the free space (UINT64_MAX when not checked). */
int metro_server_check_space(struct metro_server *s, uint64_t *free_mb);
/* Publish an alarm about the station as a whole on alarm.store (no rig field): doc holds
 * alarm, severity, active and message (consumed). */
void metro_server_publish_store_alarm(struct metro_server *s, json_t *doc);
/* Sign the chain head and publish the checkpoint on `audit`.  Returns the checkpoint (new
 * reference) or NULL when nothing new was recorded (publish.c). */
json_t *metro_server_checkpoint(struct metro_server *s);

#endif
