/* bench_publish — readings published per second by metrod against a bare libzmq PUB loop
 * sending the same encoded documents, same socket setup, same run; and the publish-to-
 * subscriber latency over tcp loopback.  Prints one JSON object per figure.
 *
 * metrod's side is what the daemon does per sampling tick after the device read: the rig
 * actor encodes the tick's values (docenc.h), the publisher stamps schema, station, time,
 * rig and a seq from the record store and sends [topic][document].  The hop between the two
 * threads (an inproc PAIR) is not in the loop.  A second figure, without target, is the
 * general path every other document takes (a jansson tree, stamped, encoded). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "docenc.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "util.h"
#include "rounds.h"

static volatile int stop;
static long received;

static void *drain(void *sub)
{
	while (!stop &&
	       __atomic_load_n(&received, __ATOMIC_RELAXED) < 11 * (2 * 40000 + 10000) + 1) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sub, 0) >= 0 && !zmq_msg_more(&m))
			__atomic_add_fetch(&received, 1, __ATOMIC_RELAXED);
		zmq_msg_close(&m);
	}
	return NULL;
}

static const char *const names[] = {"flow.setpoint", "flow.actual",    "ref.volume",
				    "water.temp",    "water.pressure", "pos[1].volume"};

/* A tick's values as a rig reads them: float32 registers, changing every tick. */
static void tick_values(long tick, double v[6])
{
	for (size_t i = 0; i < 6; i++)
		v[i] = (double)(float)(1.2345678 * (double)(i + 1) + 1e-4 * (double)(tick % 1000));
}

static json_t *reading(long tick)
{
	double v[6];
	tick_values(tick, v);
	json_t *o = json_object();
	for (size_t i = 0; i < 6; i++)
		json_object_set_new(o, names[i], json_real(v[i]));
	return json_pack("{sIsIso}", "tick", (json_int_t)tick, "read_ns", (json_int_t)61234,
			 "values", o);
}

/* Wait (untimed) until the subscriber has everything sent so far, so that no phase starts
 * with the previous one's messages still queued against the high-water mark. */
static int caught_up(long expected)
{
	for (int i = 0; i < 500 && __atomic_load_n(&received, __ATOMIC_RELAXED) < expected; i++)
		usleep(10000);
	if (__atomic_load_n(&received, __ATOMIC_RELAXED) >= expected)
		return 1;
	fprintf(stderr, "bench_publish: the subscriber got %ld of %ld\n", received, expected);
	return 0;
}

static double now_s(void)
{
	return (double)metro_now_ns() / 1e9;
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
	enum { N = 40000 };
	struct metro_reading_enc enc;
	metro_reading_enc_init(&enc, names, 6);
	char *rig_q = metro_json_quote("water-1");
	double v[6];
	size_t blen;
	/* the bare loop sends one document as metrod stamps it, encoded once */
	tick_values(1, v);
	const char *b1 = metro_reading_encode(&enc, 1, 61234, v, &blen);
	metro_server_publish_body(&s, "reading", "water-1", rig_q, b1,
				  blen); /* sets the stamp up */
	char *body = metro_strndup(s.stamp.buf.p, s.stamp.buf.len);
	size_t body_len = s.stamp.buf.len;
	if (!caught_up(1))
		return 1;
	/* Eleven rounds, the three loops in turn, each waiting for the subscriber to catch up.
	 * The ratio is the median of the rounds' ratios (each metrod loop against the bare loop
	 * run just before it), so a disturbed round or a drift of the machine does not decide;
	 * the rates shown are the median rounds. */
	enum { ROUNDS = 11 };
	double bare_r[ROUNDS], ours_r[ROUNDS], general_r[ROUNDS], ratio_r[ROUNDS], gratio_r[ROUNDS];
	long total = 1;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_s();
		for (long i = 0; i < N; i++) {
			zmq_send(s.publish, "reading.water-1", 15, ZMQ_SNDMORE);
			zmq_send(s.publish, body, body_len, 0);
		}
		bare_r[r] = N / (now_s() - t0);
		if (!caught_up(total += N))
			return 1;
		t0 = now_s();
		for (long i = 0; i < N; i++) {
			tick_values(i, v);
			const char *b = metro_reading_encode(&enc, (uint64_t)i, 61234, v, &blen);
			metro_server_publish_body(&s, "reading", "water-1", rig_q, b, blen);
		}
		ours_r[r] = N / (now_s() - t0);
		if (!caught_up(total += N))
			return 1;
		t0 = now_s();
		for (long i = 0; i < N / 4; i++)
			metro_server_publish(&s, "reading", "water-1", reading(i));
		general_r[r] = (N / 4) / (now_s() - t0);
		if (!caught_up(total += N / 4))
			return 1;
		ratio_r[r] = ours_r[r] / bare_r[r];
		gratio_r[r] = general_r[r] / bare_r[r];
	}
	struct bench_spread ratio = bench_spread(ratio_r, ROUNDS),
			    gratio = bench_spread(gratio_r, ROUNDS);
	double bare = bench_median(bare_r, ROUNDS), ours = bench_median(ours_r, ROUNDS),
	       general = bench_median(general_r, ROUNDS);
	/* Then measure one document at a time. */
	stop = 1;
	pthread_join(th, NULL);
	double lat[2000];
	for (int i = 0; i < 2000; i++) {
		double sent = now_s();
		tick_values(i, v);
		const char *b = metro_reading_encode(&enc, (uint64_t)i, 61234, v, &blen);
		metro_server_publish_body(&s, "reading", "water-1", rig_q, b, blen);
		zmq_msg_t t, m;
		zmq_msg_init(&t);
		zmq_msg_init(&m);
		zmq_msg_recv(&t, sub, 0);
		zmq_msg_recv(&m, sub, 0);
		lat[i] = (now_s() - sent) * 1e6;
		zmq_msg_close(&t);
		zmq_msg_close(&m);
	}
	qsort(lat, 2000, sizeof *lat, bench_cmp);
	printf("{\"figure\":\"readings published per second (%zu-byte documents: values encoded, "
	       "stamped, seq from the store)\",\"metrod\":%.0f,\"baseline\":%.0f,",
	       body_len, ours, bare);
	bench_print_ratio(stdout, ratio, 2);
	printf(",\"target\":\">= 0.5\",\"baseline_is\":\"bare libzmq PUB loop, same "
	       "documents\"}\n");
	printf("{\"figure\":\"the same through the general path (jansson tree, stamped, "
	       "encoded; results and other rare documents)\",\"metrod\":%.0f,\"baseline\":%.0f,",
	       general, bare);
	bench_print_ratio(stdout, gratio, 2);
	printf(",\"target\":\"-\",\"baseline_is\":\"bare libzmq PUB loop, same documents\"}\n");
	printf("{\"figure\":\"publish to subscriber over tcp loopback, p99 us (p50 %.0f)\","
	       "\"metrod\":%.0f,\"baseline\":\"-\",\"ratio\":\"-\",\"target\":\"-\","
	       "\"baseline_is\":\"(a figure, no baseline)\"}\n",
	       lat[1000], lat[1980]);
	free(body);
	free(rig_q);
	metro_reading_enc_free(&enc);
	metro_stamp_free(&s.stamp);
	zmq_close(sub);
	zmq_close(s.publish);
	zmq_ctx_term(ctx);
	metro_store_close(&s.store);
	free(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) != 0;
}
