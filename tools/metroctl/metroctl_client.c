/* metroctl_client.c — the client side of the control API: one request and its reply, and
 * the CURVE keys of the client (metroctl_client.h, docs/protocol.md). */
#include "metroctl_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	static const struct metro_yfield fields[] = {{"public", 1}, {"secret", 0}, {"role", 0}};
	yaml_node_t *v[3];
	char *p = NULL, *s = NULL;
	int rc = metro_y_map(f, metro_y_root(f), "", fields, 3, v) ? -1 : 0;
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
