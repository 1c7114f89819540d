/* metroctl_client.c — the client side of the control API: one request and its reply, the
 * CURVE keys of the client, and the watch on the record store that follow and start --wait
 * keep (metroctl_client.h, docs/protocol.md). */
#include "metroctl_client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "diag.h"
#include "log.h"
#include "util.h"
#include "yfile.h"

int metroctl_curve_client(const struct metroctl_opts *o, void *sock)
{
	if (!o->curve_public[0])
		return 0;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o->curve_server, 41) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, o->curve_public, 41) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->curve_secret, 41)) {
		fprintf(stderr, "metroctl: cannot set the CURVE keys: %s\n",
			zmq_strerror(zmq_errno()));
		return -1;
	}
	return 0;
}

int metroctl_read_key(const char *path, char pub[41], char secret[41])
{
	/* A secret key others may read is no longer secret: refused, as metrod refuses its own
	 * (config_endpoints.c), before anything is read from it. */
	struct stat st;
	if (secret && stat(path, &st) == 0 && (st.st_mode & 077)) {
		fprintf(stderr,
			"metroctl: %s: secret key file has mode %04o: group or others have "
			"access to it (chmod 600 %s)\n",
			path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	/* A client's key pair (public, secret; role in a .pub) or a person's (also person, sign,
	 * sign_secret: metroctl_keygen.c), whose CURVE pair is the public and secret here. */
	static const struct metro_yfield fields[] = {{"public", 1}, {"secret", 0},
						     {"role", 0},   {"person", 0},
						     {"sign", 0},   {"sign_secret", 0}};
	yaml_node_t *v[6];
	char *p = NULL, *s = NULL;
	int rc = metro_y_map(f, metro_y_root(f), "", fields, 6, v) ? -1 : 0;
	if (!rc && (metro_y_str(f, v[0], "public", 40, &p) || strlen(p) != 40))
		rc = -1;
	if (!rc && secret) {
		if (!v[1]) {
			metro_y_error(f, metro_y_root(f), "a key pair file needs 'secret'");
			rc = -1;
		} else if (metro_y_str(f, v[1], "secret", 40, &s) || strlen(s) != 40) {
			rc = -1;
		}
	}
	if (!rc) {
		metro_strlcpy(pub, p, 41);
		if (secret)
			metro_strlcpy(secret, s, 41);
	} else {
		metro_diag_print(&d, stderr);
		fprintf(stderr, "metroctl: %s: not a CURVE key file\n", path);
	}
	free(p);
	free(s);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);
	return rc;
}

json_t *metroctl_request(const struct metroctl_opts *o, json_t *req)
{
	void *ctx = zmq_ctx_new();
	void *sock = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	json_t *reply = NULL;
	if (!req) {
		fprintf(stderr, "metroctl: internal error building the request\n");
		goto out;
	}
	if (metroctl_curve_client(o, sock))
		goto out;
	if (zmq_connect(sock, o->endpoint)) {
		fprintf(stderr, "metroctl: cannot connect to %s: %s\n", o->endpoint,
			zmq_strerror(zmq_errno()));
		goto out;
	}
	/* Every request gets its own id: the daemon answers a repeated id (with the same
	 * request) from its first reply instead of executing it again, so ids must not be
	 * reused by accident across invocations. */
	static unsigned counter;
	char idbuf[64];
	snprintf(idbuf, sizeof idbuf, "metroctl-%ld-%llx-%u", (long)getpid(),
		 (unsigned long long)metro_now_ns(), ++counter);
	json_object_set_new(req, "id", json_string(idbuf));
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	req = NULL;
	zmq_send(sock, text, strlen(text), 0);
	free(text);
	zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&it, 1, o->timeout_ms) <= 0) {
		fprintf(stderr, "metroctl: no reply from %s within %d ms\n", o->endpoint,
			o->timeout_ms);
		goto out;
	}
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, sock, 0) >= 0) {
		json_error_t e;
		reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &e);
		if (!reply)
			fprintf(stderr, "metroctl: malformed reply: %s\n", e.text);
	}
	zmq_msg_close(&m);
out:
	json_decref(req);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return reply;
}

void metroctl_refusal(const char *cmd, json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	fprintf(stderr, "metroctl: %s: refused (%s): %s\n", cmd ? cmd : "request",
		code ? code : "no code given", msg ? msg : "no reason given");
}

int metroctl_call(const struct metroctl_opts *o, json_t *req, void (*print)(json_t *reply),
		  json_t **out)
{
	char cmd[64] = "";
	const char *name = json_string_value(json_object_get(req, "cmd"));
	if (name)
		metro_strlcpy(cmd, name, sizeof cmd);
	json_t *reply = metroctl_request(o, req);
	if (out)
		*out = reply;
	if (!reply)
		return METROCTL_EXIT_UNREACHABLE;
	int ok = json_is_true(json_object_get(reply, "ok"));
	if (o->json) {
		char *t = json_dumps(reply, JSON_COMPACT);
		puts(t);
		free(t);
	} else if (!ok) {
		metroctl_refusal(cmd, reply);
	} else if (print) {
		print(reply);
	}
	if (!out)
		json_decref(reply);
	return ok ? METROCTL_EXIT_OK : METROCTL_EXIT_REFUSED;
}

/* ---- the record store's health while waiting on runs --------------------------------------- */

struct metroctl_store_watch {
	const struct metroctl_opts *o;
	void *ctx, *sub; /* SUB on the daemon's publish endpoint: alarm.store, run.<rig> */
	char subscribed[16][64];
	int nsubscribed;
	uint64_t next_status_ns;
	char failed[512]; /* why the store failed, once known */
};

/* Ask `status` whether the store has failed; remembers the reason.  The daemon not answering
 * is left to the caller's own requests to notice. */
static void status_check(struct metroctl_store_watch *w)
{
	json_t *st = metroctl_request(w->o, json_pack("{siss}", "id", 1, "cmd", "status"));
	const char *why = json_string_value(json_object_get(st, "store_failed"));
	if (why && !w->failed[0])
		snprintf(w->failed, sizeof w->failed, "%s", why);
	w->next_status_ns = metro_now_ns() + (uint64_t)METROCTL_STORE_POLL_MS * 1000000u;
	json_decref(st);
}

struct metroctl_store_watch *metroctl_store_watch_open(const struct metroctl_opts *o)
{
	struct metroctl_store_watch *w = metro_calloc(1, sizeof *w);
	w->o = o;
	json_t *st = metroctl_request(o, json_pack("{siss}", "id", 1, "cmd", "status"));
	const char *ep = json_string_value(json_object_get(st, "publish"));
	if (ep) {
		w->ctx = zmq_ctx_new();
		w->sub = zmq_socket(w->ctx, ZMQ_SUB);
		int linger = 0;
		zmq_setsockopt(w->sub, ZMQ_LINGER, &linger, sizeof linger);
		zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, "alarm.store", strlen("alarm.store"));
		if (metroctl_curve_client(o, w->sub) || zmq_connect(w->sub, ep)) {
			zmq_close(w->sub); /* the status poll still notices a failure */
			zmq_ctx_term(w->ctx);
			w->sub = w->ctx = NULL;
		}
	}
	json_decref(st);
	/* Subscribed first, then asked: a failure before the subscription took is in status. */
	status_check(w);
	return w;
}

void metroctl_store_watch_topic(struct metroctl_store_watch *w, const char *topic)
{
	if (!w->sub || w->nsubscribed == 16 || strlen(topic) >= sizeof w->subscribed[0])
		return;
	for (int i = 0; i < w->nsubscribed; i++)
		if (!strcmp(w->subscribed[i], topic))
			return;
	metro_strlcpy(w->subscribed[w->nsubscribed++], topic, sizeof w->subscribed[0]);
	zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
}

/* One document from the subscription: notes an alarm.store.  Returns 1 when one was read. */
static int take_document(struct metroctl_store_watch *w)
{
	zmq_msg_t topic, body;
	zmq_msg_init(&topic);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&topic, w->sub, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&topic);
		zmq_msg_close(&body);
		return 0;
	}
	if (zmq_msg_more(&topic))
		zmq_msg_recv(&body, w->sub, 0);
	if (zmq_msg_size(&topic) == strlen("alarm.store") &&
	    !memcmp(zmq_msg_data(&topic), "alarm.store", zmq_msg_size(&topic))) {
		json_t *doc = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
		const char *msg = json_string_value(json_object_get(doc, "message"));
		static const char prefix[] = "record store failed: ";
		if (msg && !strncmp(msg, prefix, strlen(prefix)))
			msg += strlen(prefix); /* the reason as status gives it */
		if (json_is_true(json_object_get(doc, "active")) && !w->failed[0])
			snprintf(w->failed, sizeof w->failed, "%s",
				 msg ? msg : "(no reason given)");
		json_decref(doc);
	}
	zmq_msg_close(&topic);
	zmq_msg_close(&body);
	return 1;
}

const char *metroctl_store_watch_wait(struct metroctl_store_watch *w, int ms)
{
	uint64_t end = metro_now_ns() + (uint64_t)ms * 1000000u;
	int woken = 0;
	while (!w->failed[0] && !woken) {
		uint64_t now = metro_now_ns();
		if (now >= end)
			break;
		int left = (int)((end - now) / 1000000u) + 1;
		if (w->sub) {
			zmq_pollitem_t it = {w->sub, 0, ZMQ_POLLIN, 0};
			if (zmq_poll(&it, 1, left) > 0)
				while (take_document(w))
					woken = 1;
		} else {
			usleep((useconds_t)left * 1000u);
		}
	}
	if (!w->failed[0] && metro_now_ns() >= w->next_status_ns)
		status_check(w);
	return w->failed[0] ? w->failed : NULL;
}

void metroctl_store_watch_close(struct metroctl_store_watch **pw)
{
	struct metroctl_store_watch *w = *pw;
	if (!w)
		return;
	if (w->sub) {
		zmq_close(w->sub);
		zmq_ctx_term(w->ctx);
	}
	free(w);
	*pw = NULL;
}
