#include "rig.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "error.h"
#include "log.h"
#include "util.h"

struct metro_rig {
	struct metro_rig_conf *conf;
	void *pipe_main;  /* main thread's end */
	void *pipe_actor; /* actor's end */
	pthread_t thread;
	int started;
	char state[32]; /* main thread's view, updated by metro_rig_receive */
};

static int send_frames(void *sock, const char *a, const char *b)
{
	if (zmq_send(sock, a, strlen(a), ZMQ_SNDMORE) < 0)
		return METRO_E_IO;
	if (zmq_send(sock, b, strlen(b), 0) < 0)
		return METRO_E_IO;
	return METRO_OK;
}

/* Receive a two-frame message into fixed buffers; extra frames are drained. */
static int recv_frames(void *sock, char *a, size_t alen, char *b, size_t blen, int flags)
{
	int n = zmq_recv(sock, a, alen - 1, flags);
	if (n < 0)
		return METRO_E_IO;
	a[(size_t)n < alen - 1 ? (size_t)n : alen - 1] = '\0';
	b[0] = '\0';
	int more;
	size_t sz = sizeof more;
	zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
	if (more) {
		n = zmq_recv(sock, b, blen - 1, 0);
		if (n >= 0)
			b[(size_t)n < blen - 1 ? (size_t)n : blen - 1] = '\0';
		for (;;) {
			zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
			if (!more)
				break;
			char junk[16];
			zmq_recv(sock, junk, sizeof junk, 0);
		}
	}
	return METRO_OK;
}

static void actor_state(struct metro_rig *r, const char *state)
{
	json_t *doc = json_pack("{ss}", "state", state);
	char *text = json_dumps(doc, JSON_COMPACT);
	send_frames(r->pipe_actor, "state", text);
	free(text);
	json_decref(doc);
}

/* The actor's loop.  Until the drivers land it has no device to sample: it reports "idle",
 * waits for commands and answers STOP by reaching its (trivially) safe state. */
static void *actor_main(void *arg)
{
	struct metro_rig *r = arg;
	actor_state(r, "idle");
	for (;;) {
		zmq_pollitem_t it = {r->pipe_actor, 0, ZMQ_POLLIN, 0};
		long period_ms = (long)(1000.0 / r->conf->sample_hz);
		int rc = zmq_poll(&it, 1, period_ms > 0 ? period_ms : 1);
		if (rc < 0)
			break;
		if (!(it.revents & ZMQ_POLLIN))
			continue;
		char verb[32], body[1024];
		if (recv_frames(r->pipe_actor, verb, sizeof verb, body, sizeof body, 0))
			break;
		if (!strcmp(verb, "STOP"))
			break;
	}
	actor_state(r, "stopped");
	return NULL;
}

int metro_rig_start(void *zctx, const struct metro_rig_conf *conf, struct metro_rig **out)
{
	static unsigned counter;
	struct metro_rig *r = metro_calloc(1, sizeof *r);
	r->conf = metro_rig_conf_dup(conf);
	metro_strlcpy(r->state, "starting", sizeof r->state);
	char ep[128];
	snprintf(ep, sizeof ep, "inproc://rig-%s-%u", conf->id,
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	r->pipe_main = zmq_socket(zctx, ZMQ_PAIR);
	r->pipe_actor = zmq_socket(zctx, ZMQ_PAIR);
	if (!r->pipe_main || !r->pipe_actor || zmq_bind(r->pipe_main, ep) ||
	    zmq_connect(r->pipe_actor, ep))
		goto fail;
	int linger = 0;
	zmq_setsockopt(r->pipe_main, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(r->pipe_actor, ZMQ_LINGER, &linger, sizeof linger);
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
		send_frames(r->pipe_main, "STOP", "{}");
		pthread_join(r->thread, NULL);
		/* Drain what the actor said on its way out, so its final state is known. */
		while (metro_rig_receive(r))
			;
	}
	if (r->pipe_main)
		zmq_close(r->pipe_main);
	if (r->pipe_actor)
		zmq_close(r->pipe_actor);
	metro_rig_conf_free(&r->conf);
	free(r);
	*pr = NULL;
}

void *metro_rig_pipe(struct metro_rig *r)
{
	return r->pipe_main;
}

const char *metro_rig_receive(struct metro_rig *r)
{
	char kind[32], body[4096];
	if (recv_frames(r->pipe_main, kind, sizeof kind, body, sizeof body, ZMQ_DONTWAIT))
		return NULL;
	if (!strcmp(kind, "state")) {
		json_t *doc = json_loads(body, 0, NULL);
		const char *st = json_string_value(json_object_get(doc, "state"));
		if (st)
			metro_strlcpy(r->state, st, sizeof r->state);
		json_decref(doc);
		return "state";
	}
	return "other";
}

const struct metro_rig_conf *metro_rig_conf(const struct metro_rig *r)
{
	return r->conf;
}

const char *metro_rig_state(const struct metro_rig *r)
{
	return r->state;
}
