/* rig.c — the rig actor.
 *
 * One thread per rig.  The thread owns the rig's device (drivers/device.h) and samples it on a
 * CLOCK_MONOTONIC timerfd armed with absolute deadlines, so the schedule does not drift with
 * the time spent reading; the lateness of every tick is measured and ticks that could not be
 * served (the read took longer than the period) are counted, never silently merged.
 *
 * Up the pipe go [kind][json] messages: "state", "reading" (one per tick, every readable
 * channel; only its body, encoded by docenc.c, the main thread stamps it without parsing), "health"
 * (device counters and tick lateness, once a second) and "alarm" (device lost, device back).  Down
 * the pipe come commands; STOP brings the rig to its safe state (flow off, source off, valve
 * closed), verified by reading back, before the thread exits.
 */
#include "rig.h"

#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "device.h"
#include "docenc.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "util.h"

#define LATENCY_RING 1024

struct metro_rig {
	struct metro_rig_conf *conf;
	void *pipe_main;  /* main thread's end */
	void *pipe_actor; /* actor's end */
	pthread_t thread;
	int started;
	char state[32];		       /* main thread's view, updated by metro_rig_receive */
	int connected;		       /* main thread's view */
	char *id_q;		       /* the rig id as a JSON string, for the publisher's stamp */
	struct metro_buf last_reading; /* main thread's copy of the newest reading body */
	json_t *device;	     /* main thread's copy of the newest health's device counters */
	int pause_requested; /* main thread's copy of the engine's pause request (the run's) */

	/* actor-only state */
	struct metro_device *dev;
	int tfd;
	uint64_t period, next, next_health;
	int shutdown;
	int unsafe;		     /* the last run ended without its safe state confirmed */
	struct metro_batch *pending; /* a submitted batch waiting to run */
	struct metro_engine *engine; /* the run in progress */
	const struct metro_channel **readable;
	size_t nreadable;
	double *values;
	struct metro_reading_enc enc;
	uint64_t ticks, dropped_ticks, send_drops;
	int64_t lateness[LATENCY_RING]; /* ns */
	size_t nlate;
	int device_ok;
};

static int send_frames(void *sock, const char *kind, const char *body, size_t len, int flags)
{
	if (zmq_send(sock, kind, strlen(kind), ZMQ_SNDMORE | flags) < 0)
		return METRO_E_IO;
	if (zmq_send(sock, body, len, flags) < 0)
		return METRO_E_IO;
	return METRO_OK;
}

/* Send a document up the pipe without ever blocking the actor: if the main thread is behind
 * and the pipe is full, the document is dropped and counted.  Only what may be lost goes this
 * way (state, health, alarms); results go typed and wait for room (actor_emit_result). */
static void up(struct metro_rig *r, const char *kind, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(METRO_DOC_REAL_PRECISION));
	if (text && send_frames(r->pipe_actor, kind, text, strlen(text), ZMQ_DONTWAIT))
		r->send_drops++;
	free(text);
	json_decref(doc);
}

static void actor_state(struct metro_rig *r, const char *state)
{
	up(r, "state", json_pack("{ss}", "state", state));
}

/* Channels worth sampling every tick: everything readable except identification strings. */
static void choose_channels(struct metro_rig *r)
{
	const struct metro_profile *p = r->conf->profile_data;
	r->readable = metro_calloc(p->nchannels, sizeof *r->readable);
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *c = &p->channels[i];
		if (p->transport == METRO_TRANSPORT_MODBUS && c->codec.type == METRO_CODEC_STRING &&
		    c->table != METRO_TABLE_COIL && c->table != METRO_TABLE_DISCRETE)
			continue;
		r->readable[r->nreadable++] = c;
	}
	r->values = metro_calloc(r->nreadable ? r->nreadable : 1, sizeof *r->values);
	const char **names = metro_calloc(r->nreadable ? r->nreadable : 1, sizeof *names);
	for (size_t i = 0; i < r->nreadable; i++)
		names[i] = r->readable[i]->name;
	metro_reading_enc_init(&r->enc, names, r->nreadable);
	free(names);
}

static void sample(struct metro_rig *r, uint64_t deadline_ns)
{
	int err = metro_device_read(r->dev, r->readable, r->nreadable, r->values);
	uint64_t done = metro_now_ns();
	if (err) {
		if (r->device_ok) {
			r->device_ok = 0;
			up(r, "alarm",
			   json_pack("{sssssbss}", "alarm", "device-lost", "severity", "error",
				     "active", 1, "message", metro_device_last_error(r->dev)));
		}
		return;
	}
	if (!r->device_ok) {
		r->device_ok = 1;
		up(r, "alarm",
		   json_pack("{sssssbss}", "alarm", "device-lost", "severity", "error", "active", 0,
			     "message", metro_device_describe(r->dev)));
	}
	size_t len;
	const char *body = metro_reading_encode(&r->enc, r->ticks, (int64_t)(done - deadline_ns),
						r->values, &len);
	if (send_frames(r->pipe_actor, "reading", body, len, ZMQ_DONTWAIT))
		r->send_drops++;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void health(struct metro_rig *r)
{
	struct metro_device_stats st;
	metro_device_stats(r->dev, &st);
	int64_t sorted[LATENCY_RING];
	size_t n = r->nlate < LATENCY_RING ? r->nlate : LATENCY_RING;
	memcpy(sorted, r->lateness, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_i64);
	double p50 = n ? (double)sorted[n / 2] / 1e3 : 0;
	double p99 = n ? (double)sorted[(n * 99) / 100] / 1e3 : 0;
	double mx = n ? (double)sorted[n - 1] / 1e3 : 0;
	json_t *dev = json_pack(
		"{sssbsIsIsIsIsIsIsIsIsIsIsIsfsfss}", "device", metro_device_describe(r->dev),
		"connected", st.connected, "transactions", (json_int_t)st.transactions, "ok",
		(json_int_t)st.ok, "timeouts", (json_int_t)st.timeouts, "io_errors",
		(json_int_t)st.io_errors, "proto_errors", (json_int_t)st.proto_errors,
		"device_errors", (json_int_t)st.device_errors, "other_errors",
		(json_int_t)st.other_errors, "retries", (json_int_t)st.retries, "reconnects",
		(json_int_t)st.reconnects, "readback_mismatches",
		(json_int_t)st.readback_mismatches, "unconfirmed_writes",
		(json_int_t)st.unconfirmed_writes, "last_latency_ms",
		(double)st.last_latency_ns / 1e6, "max_latency_ms", (double)st.max_latency_ns / 1e6,
		"last_error", metro_device_last_error(r->dev));
	json_t *ticks =
		json_pack("{sIsIsIsfsfsfsf}", "count", (json_int_t)r->ticks, "dropped",
			  (json_int_t)r->dropped_ticks, "send_drops", (json_int_t)r->send_drops,
			  "period_ms", 1000.0 / r->conf->sample_hz, "lateness_p50_us", p50,
			  "lateness_p99_us", p99, "lateness_max_us", mx);
	up(r, "health", json_pack("{soso}", "device", dev, "ticks", ticks));
	r->nlate = 0;
}

/* The safe state of each rig kind: the channel and the value that stops the stimulus. */
static const struct {
	enum metro_rig_kind kind;
	const char *channel;
	double value;
} safe_state[] = {
	{METRO_RIG_FLOW_BENCH, "collect", 0},
	{METRO_RIG_FLOW_BENCH, "flow.run", 0},
	{METRO_RIG_FLOW_BENCH, "flow.setpoint", 0},
	{METRO_RIG_ELECTRICITY_BENCH, "source.on", 0},
	{METRO_RIG_ELECTRICITY_BENCH, "source.current", 0},
	{METRO_RIG_BELL_PROVER, "valve", 0},
	{METRO_RIG_BELL_PROVER, "flow.setpoint", 0},
};

/* Bring the rig to its safe state; every write is read back by the device layer.  Returns 0
 * when every safe value is confirmed. */
static int go_safe(struct metro_rig *r)
{
	int bad = 0;
	for (size_t i = 0; i < METRO_ARRAY_SIZE(safe_state); i++) {
		if (safe_state[i].kind != r->conf->kind)
			continue;
		const struct metro_channel *c =
			metro_profile_channel(r->conf->profile_data, safe_state[i].channel);
		if (!c)
			continue;
		int err = metro_device_write(r->dev, c, safe_state[i].value);
		if (err) {
			bad = 1;
			metro_err("rig %s: safe state: %s = %g not confirmed: %s", r->conf->id,
				  c->name, safe_state[i].value, metro_device_last_error(r->dev));
			struct metro_device_stats st;
			metro_device_stats(r->dev, &st);
			if (!st.connected)
				break; /* unreachable: do not spend a timeout on every channel */
		}
	}
	return bad ? METRO_E_DEVICE : METRO_OK;
}

static int arm_timer(int tfd, uint64_t deadline_ns)
{
	struct itimerspec its = {
		{0, 0}, {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)}};
	return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Send a command down to the actor: [verb][json], or for START [verb][pointer]. */
static int send_cmd(struct metro_rig *r, const char *verb, const void *body, size_t len)
{
	if (zmq_send(r->pipe_main, verb, strlen(verb), ZMQ_SNDMORE) < 0 ||
	    zmq_send(r->pipe_main, body, len, 0) < 0)
		return METRO_E_IO;
	return METRO_OK;
}

/* One tick of the sampling grid: read, publish, keep the grid (absolute deadlines, no drift;
 * deadlines missed while a read ran are counted as dropped ticks). */
static void tick(struct metro_rig *r)
{
	uint64_t expirations = 0;
	if (read(r->tfd, &expirations, sizeof expirations) != sizeof expirations)
		return;
	uint64_t now = metro_now_ns();
	r->lateness[r->nlate++ % LATENCY_RING] = (int64_t)(now - r->next);
	r->ticks++;
	uint64_t missed = now > r->next ? (now - r->next) / r->period : 0;
	r->dropped_ticks += missed;
	sample(r, r->next);
	/* A rig left unsafe (its device was gone when the run ended) is brought to its safe
	 * state as soon as the device answers again; only then does it take new runs. */
	if (r->unsafe && r->device_ok && !r->engine && !go_safe(r)) {
		r->unsafe = 0;
		metro_notice("rig %s: safe state confirmed after the device came back",
			     r->conf->id);
		actor_state(r, "idle");
	}
	r->next += (missed + 1) * r->period;
	now = metro_now_ns();
	if (r->next <= now) {
		uint64_t skip = (now - r->next) / r->period + 1;
		r->dropped_ticks += skip;
		r->next += skip * r->period;
	}
	arm_timer(r->tfd, r->next);
	if (now >= r->next_health) {
		health(r);
		r->next_health = now + 1000000000u;
	}
}

/* A command from the main thread.  Run commands go to the engine when a run is active. */
static void command(struct metro_rig *r)
{
	char verb[32] = "";
	zmq_msg_t body;
	int n = zmq_recv(r->pipe_actor, verb, sizeof verb - 1, 0);
	if (n < 0)
		return;
	verb[n < (int)sizeof verb - 1 ? n : (int)sizeof verb - 1] = '\0';
	zmq_msg_init(&body);
	int more = 0;
	size_t sz = sizeof more;
	zmq_getsockopt(r->pipe_actor, ZMQ_RCVMORE, &more, &sz);
	if (more)
		zmq_msg_recv(&body, r->pipe_actor, 0);
	if (!strcmp(verb, "STOP")) {
		r->shutdown = 1;
		if (r->engine)
			metro_engine_command(r->engine, "abort", NULL, NULL, 0);
	} else if (!strcmp(verb, "START")) {
		struct metro_batch *b = NULL;
		if (zmq_msg_size(&body) == sizeof b)
			memcpy(&b, zmq_msg_data(&body), sizeof b);
		if (r->engine || r->pending) {
			metro_err("rig %s: START while a run is active; batch dropped",
				  r->conf->id);
			metro_batch_destroy(&b);
		} else {
			r->pending = b;
		}
	} else if (r->engine) {
		json_t *doc = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
		char err[200] = "";
		if (metro_engine_command(r->engine, verb, doc, err, sizeof err))
			metro_warn("rig %s: %s refused: %s", r->conf->id, verb, err);
		json_decref(doc);
	}
	zmq_msg_close(&body);
}

/* Let `seconds` pass (real time) while sampling and serving commands: the engine's wait, and
 * the idle loop's too (seconds < 0: until a command arrives that needs the loop to act). */
static int actor_wait(void *ctx, double seconds)
{
	struct metro_rig *r = ctx;
	uint64_t deadline = seconds >= 0 ? metro_now_ns() + (uint64_t)(seconds * 1e9) : UINT64_MAX;
	for (;;) {
		if (r->shutdown || (r->engine && metro_engine_must_end(r->engine)))
			return METRO_E_STATE;
		if (seconds < 0 && r->pending)
			return METRO_OK;
		uint64_t now = metro_now_ns();
		if (now >= deadline)
			return METRO_OK;
		long timeout =
			deadline == UINT64_MAX ? -1 : (long)((deadline - now) / 1000000u) + 1;
		zmq_pollitem_t it[2] = {{r->pipe_actor, 0, ZMQ_POLLIN, 0},
					{NULL, r->tfd, ZMQ_POLLIN, 0}};
		if (zmq_poll(it, 2, timeout) < 0)
			return METRO_E_STATE;
		if (it[0].revents & ZMQ_POLLIN)
			command(r);
		if (it[1].revents & ZMQ_POLLIN)
			tick(r);
	}
}

/* A typed result goes up by value (a kind and a pointer: the pipe is inproc, in one process)
 * and the main thread takes over what it points to.  It is never dropped for lack of room: the
 * send waits for the main thread. */
static void actor_emit_result(void *ctx, struct metro_result res)
{
	struct metro_rig *r = ctx;
	if (send_frames(r->pipe_actor, "result", (const char *)&res, sizeof res, 0)) {
		r->send_drops++; /* only when the pipe is gone (shutdown) */
		metro_result_free(&res);
	}
}

static void run_batch(struct metro_rig *r)
{
	struct metro_batch *b = r->pending;
	r->pending = NULL;
	struct metro_engine_io io = {r,
				     r->dev,
				     r->conf->profile_data,
				     actor_wait,
				     actor_emit_result,
				     fmin(0.1, 1.0 / r->conf->sample_hz)};
	r->engine = metro_engine_new(b, &io);
	actor_state(r, "running");
	const char *end = metro_engine_run(r->engine);
	/* Every ending leaves the rig safe, read back; then the device's own end sequence. */
	int unsafe = go_safe(r);
	if (r->conf->profile_data->seq[METRO_SEQ_AFTER_RUN].n &&
	    metro_device_sequence(r->dev, METRO_SEQ_AFTER_RUN))
		metro_err("rig %s: run %s: %s", r->conf->id, b->run_id,
			  metro_device_last_error(r->dev));
	struct metro_run_event *safe =
		metro_run_event_new(strtoll(b->run_id, NULL, 10), METRO_RUN_SAFE, NULL);
	safe->safe_verified = !unsafe;
	actor_emit_result(r, (struct metro_result){.kind = METRO_DOC_RUN, .u.run = safe});
	metro_notice("rig %s: run %s %s%s", r->conf->id, b->run_id, end,
		     unsafe ? "; SAFE STATE NOT CONFIRMED" : "");
	metro_engine_destroy(&r->engine);
	metro_batch_destroy(&b);
	r->unsafe = unsafe;
	actor_state(r, unsafe ? "unsafe" : "idle");
}

static void *actor_main(void *arg)
{
	struct metro_rig *r = arg;
	const struct metro_driver *drv = metro_driver_find(r->conf->driver);
	struct metro_driver_conn conn = {r->conf->id, &r->conf->conn, r->conf->profile_data};
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (!drv || metro_device_new(drv, &conn, &r->dev) || r->tfd < 0) {
		metro_err("rig %s: cannot set up driver %s", r->conf->id, r->conf->driver);
		actor_state(r, "failed");
		if (r->tfd >= 0)
			close(r->tfd);
		return NULL;
	}
	choose_channels(r);
	r->device_ok = 1;
	/* A rig is assumed unsafe until its safe state is read back: after a crash or a kill
	 * of the daemon the flow or the source may still be on. */
	r->unsafe = go_safe(r) != METRO_OK;
	if (r->unsafe)
		r->device_ok = 0;
	actor_state(r, r->unsafe ? "unsafe" : "idle");
	r->period = (uint64_t)llround(1e9 / r->conf->sample_hz);
	r->next = metro_now_ns() + r->period;
	r->next_health = metro_now_ns() + 1000000000u;
	arm_timer(r->tfd, r->next);
	while (!r->shutdown) {
		actor_wait(r, -1);
		if (r->pending && !r->shutdown)
			run_batch(r);
	}
	metro_batch_destroy(&r->pending);
	actor_state(r, "stopping");
	int unsafe = go_safe(r);
	metro_device_destroy(&r->dev);
	close(r->tfd);
	actor_state(r, unsafe ? "stopped-unsafe" : "stopped");
	return NULL;
}

int metro_rig_submit(struct metro_rig *r, struct metro_batch *b)
{
	if (send_cmd(r, "START", &b, sizeof b)) {
		metro_batch_destroy(&b);
		return METRO_E_IO;
	}
	metro_strlcpy(r->state, "running", sizeof r->state);
	r->pause_requested = 0; /* a new engine, no pause asked of it */
	return METRO_OK;
}

int metro_rig_command(struct metro_rig *r, const char *verb, json_t *doc)
{
	char *text = json_dumps(doc ? doc : json_object(), JSON_COMPACT);
	int rc = send_cmd(r, verb, text, strlen(text));
	free(text);
	/* Only this thread sends pause and resume, in order, so it knows what the engine will
	 * hold when it reads them (metro_engine_command). */
	if (!rc && !strcmp(verb, "pause"))
		r->pause_requested = 1;
	else if (!rc && !strcmp(verb, "resume"))
		r->pause_requested = 0;
	return rc;
}

int metro_rig_pause_requested(const struct metro_rig *r)
{
	return r->pause_requested;
}

int metro_rig_start(void *zctx, const struct metro_rig_conf *conf, struct metro_rig **out)
{
	static unsigned counter;
	struct metro_rig *r = metro_calloc(1, sizeof *r);
	r->conf = metro_rig_conf_dup(conf);
	r->id_q = metro_json_quote(conf->id);
	metro_strlcpy(r->state, "starting", sizeof r->state);
	char ep[128];
	snprintf(ep, sizeof ep, "inproc://rig-%s-%u", conf->id,
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	r->pipe_main = zmq_socket(zctx, ZMQ_PAIR);
	r->pipe_actor = zmq_socket(zctx, ZMQ_PAIR);
	if (!r->pipe_main || !r->pipe_actor || zmq_bind(r->pipe_main, ep) ||
	    zmq_connect(r->pipe_actor, ep))
		goto fail;
	int linger = 0, hwm = 10000;
	zmq_setsockopt(r->pipe_main, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(r->pipe_actor, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(r->pipe_actor, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(r->pipe_main, ZMQ_RCVHWM, &hwm, sizeof hwm);
	if (pthread_create(&r->thread, NULL, actor_main, r))
		goto fail;
	r->started = 1;
	*out = r;
	return METRO_OK;
fail:
	metro_err("rig %s: cannot start its actor: %s", conf->id, zmq_strerror(zmq_errno()));
	metro_rig_stop(&r);
	*out = NULL;
	return METRO_E_IO;
}

void metro_rig_stop(struct metro_rig **pr)
{
	struct metro_rig *r = *pr;
	if (!r)
		return;
	if (r->started) {
		send_cmd(r, "STOP", "{}", 2);
		/* The pipe is emptied while the actor ends: a result's send waits for room
		 * (actor_emit_result), so a full pipe must not hold the join up. */
		json_t *doc;
		struct metro_result res;
		while (pthread_tryjoin_np(r->thread, NULL) == EBUSY) {
			zmq_pollitem_t it = {r->pipe_main, 0, ZMQ_POLLIN, 0};
			if (zmq_poll(&it, 1, 10) > 0)
				while (metro_rig_receive(r, &doc, &res)) {
					json_decref(doc);
					metro_result_free(&res);
				}
		}
		while (metro_rig_receive(r, &doc, &res)) {
			json_decref(doc);
			metro_result_free(&res);
		}
	}
	if (r->pipe_main)
		zmq_close(r->pipe_main);
	if (r->pipe_actor)
		zmq_close(r->pipe_actor);
	free(r->readable);
	free(r->values);
	metro_reading_enc_free(&r->enc);
	metro_buf_free(&r->last_reading);
	json_decref(r->device);
	free(r->id_q);
	metro_rig_conf_free(&r->conf);
	free(r);
	*pr = NULL;
}

void *metro_rig_pipe(struct metro_rig *r)
{
	return r->pipe_main;
}

const char *metro_rig_receive(struct metro_rig *r, json_t **doc, struct metro_result *res)
{
	*doc = NULL;
	res->kind = METRO_DOC_KINDS;
	zmq_msg_t k, b;
	zmq_msg_init(&k);
	if (zmq_msg_recv(&k, r->pipe_main, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&k);
		return NULL;
	}
	zmq_msg_init(&b);
	if (zmq_msg_more(&k))
		zmq_msg_recv(&b, r->pipe_main, 0);
	if (zmq_msg_size(&k) == 6 && !memcmp(zmq_msg_data(&k), "result", 6) &&
	    zmq_msg_size(&b) == sizeof *res) {
		memcpy(res, zmq_msg_data(&b), sizeof *res); /* ours now (actor_emit_result) */
		zmq_msg_close(&k);
		zmq_msg_close(&b);
		return metro_doc_kind_names[res->kind];
	}
	const char *kind = "other";
	enum metro_doc_kind dk;
	if (zmq_msg_size(&k) == 5 && !memcmp(zmq_msg_data(&k), "state", 5))
		kind = "state";
	else if (!metro_doc_kind_parse(zmq_msg_data(&k), zmq_msg_size(&k), &dk))
		kind = metro_doc_kind_names[dk];
	if (kind == metro_doc_kind_names[METRO_DOC_READING]) {
		/* a reading's body: kept as text, stamped and sent without parsing */
		r->last_reading.len = 0;
		metro_buf_put(&r->last_reading, zmq_msg_data(&b), zmq_msg_size(&b));
		zmq_msg_close(&k);
		zmq_msg_close(&b);
		return kind;
	}
	*doc = json_loadb(zmq_msg_data(&b), zmq_msg_size(&b), 0, NULL);
	zmq_msg_close(&k);
	zmq_msg_close(&b);
	if (!*doc)
		*doc = json_object();
	if (!strcmp(kind, "state")) {
		const char *st = json_string_value(json_object_get(*doc, "state"));
		if (st)
			metro_strlcpy(r->state, st, sizeof r->state);
	} else if (!strcmp(kind, "health")) {
		json_t *dev = json_object_get(*doc, "device");
		r->connected = json_is_true(json_object_get(dev, "connected"));
		if (json_is_object(dev)) {
			/* a copy: the document itself is stamped and published */
			json_decref(r->device);
			r->device = json_deep_copy(dev);
		}
	}
	return kind;
}

const char *metro_rig_reading(const struct metro_rig *r, size_t *len)
{
	*len = r->last_reading.len;
	return r->last_reading.len ? r->last_reading.p : NULL;
}

const char *metro_rig_id_quoted(const struct metro_rig *r)
{
	return r->id_q;
}

const struct metro_rig_conf *metro_rig_conf(const struct metro_rig *r)
{
	return r->conf;
}

const char *metro_rig_state(const struct metro_rig *r)
{
	return r->state;
}

int metro_rig_connected(const struct metro_rig *r)
{
	return r->connected;
}

json_t *metro_rig_device(const struct metro_rig *r)
{
	return r->device;
}
