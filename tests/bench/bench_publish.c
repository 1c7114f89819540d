/* bench_publish — documents published per second by metrod's publisher (stamping with schema,
 * station and time, a seq from the record store, JSON encoding, PUB send) against a bare
 * libzmq PUB loop sending the same encoded documents, same socket setup, same run; and the
 * publish-to-subscriber latency over tcp loopback.  Prints one JSON object per figure. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "server.h"
#include "store.h"
#include "util.h"

static volatile int stop;
static long received;

static void *drain(void *sub)
{
	while (!stop && __atomic_load_n(&received, __ATOMIC_RELAXED) < 100000) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sub, 0) >= 0 && !zmq_msg_more(&m))
			__atomic_add_fetch(&received, 1, __ATOMIC_RELAXED);
		zmq_msg_close(&m);
	}
	return NULL;
}

static json_t *reading(long tick)
{
	json_t *v = json_object();
	static const char *const names[] = {"flow.setpoint", "flow.actual",    "ref.volume",
					    "water.temp",    "water.pressure", "pos[1].volume"};
	for (size_t i = 0; i < 6; i++)
		json_object_set_new(v, names[i], json_real(1.2345678 * (double)(i + 1)));
	return json_pack("{sIsIso}", "tick", (json_int_t)tick, "read_ns", (json_int_t)61234,
			 "values", v);
}

static double now_s(void)
{
	return (double)metro_now_ns() / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	char dir[] = "/tmp/metrod-bench-pub-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char *db = metro_asprintf("%s/records.db", dir);
	struct metro_config cfg = {0};
	cfg.station.id = "bench";
	struct metro_server s = {0};
	s.cfg = &cfg;
	char err[256];
	struct metro_store_opts so = {.path = db, .station = "bench"};
	if (metro_store_open(&so, &s.store, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	void *ctx = zmq_ctx_new();
	s.publish = zmq_socket(ctx, ZMQ_PUB);
	void *sub = zmq_socket(ctx, ZMQ_SUB);
	int hwm = 100000;
	zmq_setsockopt(s.publish, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
	zmq_bind(s.publish, "tcp://127.0.0.1:*");
	char ep[64];
	size_t len = sizeof ep;
	zmq_getsockopt(s.publish, ZMQ_LAST_ENDPOINT, ep, &len);
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
	zmq_connect(sub, ep);
	usleep(200000);
	pthread_t th;
	pthread_create(&th, NULL, drain, sub);
	enum { N = 50000 };
	/* the bare loop: the same documents, encoded once, sent as [topic][body] */
	json_t *sample = reading(1);
	char *body = json_dumps(sample, JSON_COMPACT);
	json_decref(sample);
	double t0 = now_s();
	for (long i = 0; i < N; i++) {
		zmq_send(s.publish, "reading.water-1", 15, ZMQ_SNDMORE);
		zmq_send(s.publish, body, strlen(body), 0);
	}
	double bare = N / (now_s() - t0);
	t0 = now_s();
	for (long i = 0; i < N; i++)
		metro_server_publish(&s, "reading", "water-1", reading(i));
	double ours = N / (now_s() - t0);
	/* Let the subscriber take everything sent so far, then measure one document at a time. */
	for (int i = 0; i < 300 && __atomic_load_n(&received, __ATOMIC_RELAXED) < 2 * N; i++)
		usleep(10000);
	stop = 1;
	if (__atomic_load_n(&received, __ATOMIC_RELAXED) < 2 * N) {
		fprintf(stderr, "bench_publish: the subscriber got %ld of %d\n", received, 2 * N);
		return 1;
	}
	pthread_join(th, NULL);
	double lat[2000];
	for (int i = 0; i < 2000; i++) {
		double sent = now_s();
		metro_server_publish(&s, "reading", "water-1", reading(i));
		zmq_msg_t t, b;
		zmq_msg_init(&t);
		zmq_msg_init(&b);
		zmq_msg_recv(&t, sub, 0);
		zmq_msg_recv(&b, sub, 0);
		lat[i] = (now_s() - sent) * 1e6;
		zmq_msg_close(&t);
		zmq_msg_close(&b);
	}
	qsort(lat, 2000, sizeof *lat, cmp);
	printf("{\"figure\":\"documents published per second (~%zu-byte readings, seq from the "
	       "store)\",\"metrod\":%.0f,\"baseline\":%.0f,\"ratio\":%.2f,\"target\":\">= 0.5\","
	       "\"baseline_is\":\"bare libzmq PUB loop, same documents\"}\n",
	       strlen(body), ours, bare, ours / bare);
	printf("{\"figure\":\"publish to subscriber over tcp loopback, p99 us (p50 %.0f)\","
	       "\"metrod\":%.0f,\"baseline\":\"-\",\"ratio\":\"-\",\"target\":\"-\","
	       "\"baseline_is\":\"(a figure, no baseline)\"}\n",
	       lat[1000], lat[1980]);
	free(body);
	zmq_close(sub);
	zmq_close(s.publish);
	zmq_ctx_term(ctx);
	metro_store_close(&s.store);
	free(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) != 0;
}
