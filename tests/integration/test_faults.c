/* Fault campaign: the driver layer against metrosim with injected faults.
 *
 * Every successful read must return exactly the values the simulator holds (a setpoint we
 * wrote, registers that do not move while the bench is idle): a bad reply may never become a
 * reading.  Every injected fault must be counted by the device layer in its class (no reply
 * and late replies as timeouts, exceptions as device errors, bad CRCs and wrong unit ids as
 * protocol errors or timeouts), and no call may take longer than its bound:
 * timeout × (retries + 1) + 100 ms.
 *
 * METRO_FAULT_N sets the number of transactions per transport (default 4000 in `make check`;
 * `make campaign` runs 100000 with the same 1 % fault rate).  The figures are printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "driver.h"
#include "error.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

static char *dir;

static long transactions(void)
{
	const char *n = getenv("METRO_FAULT_N");
	return n ? atol(n) : 4000;
}

static struct metro_profile *profile(const char *path, int positions)
{
	struct metro_diag d;
	struct metro_profile *p;
	metro_diag_init(&d);
	assert_int_equal(metro_profile_load(path, positions, &d, &p), 0);
	metro_diag_free(&d);
	return p;
}

static void campaign(const char *label, const char *const *args, const struct metro_driver *drv,
		     struct metro_connection_conf *cc, int rtu)
{
	char *bin = tu_build_path("metrosim");
	char *flog = metro_asprintf("%s/%s-faults.json", dir, label);
	const char *argv[32];
	size_t n = 0;
	argv[n++] = bin;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n++] = "--fault-log";
	argv[n++] = flog;
	argv[n] = NULL;
	char first[256];
	int pid = tu_spawn(argv, dir, label, first, sizeof first);
	assert_true(pid > 0);
	if (!rtu) {
		const char *colon = strrchr(first, ':');
		assert_non_null(colon);
		cc->port = atol(colon + 1);
	} else {
		cc->device = first;
	}
	struct metro_profile *p = profile("config/profiles/flow-bench.yaml", 10);
	struct metro_driver_conn conn = {label, cc, p};
	struct metro_device *dev;
	assert_int_equal(metro_device_new(drv, &conn, &dev), 0);
	/* A known value in a holding register; then reads of it and of registers that stay put
	 * while the bench is idle. */
	const struct metro_channel *sp = metro_profile_channel(p, "flow.setpoint");
	int rc = METRO_E_IO;
	for (int i = 0; i < 50 && rc; i++)
		rc = metro_device_write(dev, sp, 1.2345);
	assert_int_equal(rc, 0);
	const struct metro_channel *chs[3] = {sp, metro_profile_channel(p, "ref.volume"),
					      metro_profile_channel(p, "pos[4].volume")};
	double want[3] = {(double)(float)1.2345, 0.0, 0.0};
	struct metro_device_stats before;
	metro_device_stats(dev, &before);
	long total = transactions(), ok = 0, failed = 0, substituted = 0;
	uint64_t worst = 0;
	uint64_t bound = (uint64_t)(cc->timeout_ms * (cc->retries + 1) + 100) * 1000000u;
	for (long i = 0; i < total; i++) {
		double v[3] = {-1, -1, -1};
		uint64_t t0 = metro_now_ns();
		rc = metro_device_read(dev, chs, 3, v);
		uint64_t dt = metro_now_ns() - t0;
		if (dt > worst)
			worst = dt;
		if (rc) {
			failed++;
			continue;
		}
		ok++;
		for (int k = 0; k < 3; k++)
			if (v[k] != want[k])
				substituted++;
	}
	struct metro_device_stats st;
	metro_device_stats(dev, &st);
	metro_device_destroy(&dev);
	metro_profile_destroy(&p);
	tu_stop(pid);
	char *text = NULL;
	assert_int_equal(metro_read_file(flog, 1 << 20, &text, NULL), 0);
	json_t *faults = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(faults);
	json_t *counts = json_object_get(faults, "injected");
	assert_non_null(counts);
	long injected = 0;
	const char *key;
	json_t *val;
	json_object_foreach (counts, key, val)
		if (json_is_integer(val))
			injected += (long)json_integer_value(val);
	long counted = (long)(st.timeouts + st.io_errors + st.proto_errors + st.device_errors);
	long faulted = (long)json_integer_value(json_object_get(faults, "faulted_requests"));
	char *shown = json_dumps(counts, JSON_COMPACT);
	printf("%s: %ld reads, %ld ok, %ld failed after retries, %llu attempts; injected %ld %s in "
	       "%lld requests; "
	       "counted %ld (timeouts %llu, io %llu, protocol %llu, device %llu); substituted "
	       "readings %ld; slowest call %.1f ms (bound %.0f ms)\n",
	       label, total, ok, failed,
	       (unsigned long long)(st.transactions - before.transactions), injected, shown,
	       (long long)faulted, counted, (unsigned long long)st.timeouts,
	       (unsigned long long)st.io_errors, (unsigned long long)st.proto_errors,
	       (unsigned long long)st.device_errors, substituted, (double)worst / 1e6,
	       (double)bound / 1e6);
	free(shown);
	json_decref(faults);
	assert_int_equal(substituted, 0);
	assert_true(injected > 0);
	/* Every faulted request is seen, in its class: a fault the device layer did not count
	 * would be a reply taken for good.  Counted over the device's whole life, setup write
	 * included, exactly as the simulator counted the requests it spoilt (a late reply that
	 * is also spoilt is one fault for the client, two kinds for the simulator). */
	assert_true(faulted > 0);
	assert_int_equal(counted, faulted);
	assert_true(worst <= bound);
	free(flog);
	free(bin);
}

static void test_tcp(void **state)
{
	(void)state;
	const char *args[] = {"--rig",
			      "flow-bench",
			      "--modbus-tcp",
			      "127.0.0.1:0",
			      "--seed",
			      "11",
			      "--faults",
			      "noreply=0.004,late=0.003:400,exception=0.003:4",
			      NULL};
	struct metro_connection_conf cc = {
		.host = "127.0.0.1", .unit = 1, .timeout_ms = 150, .retries = 2};
	campaign("tcp", args, &metro_driver_modbus_tcp, &cc, 0);
}

static void test_rtu(void **state)
{
	(void)state;
	const char *args[] = {"--rig",
			      "flow-bench",
			      "--modbus-rtu",
			      "--seed",
			      "12",
			      "--faults",
			      "noreply=0.003,crc=0.003,wrongunit=0.002,exception=0.002:4",
			      NULL};
	struct metro_connection_conf cc = {.unit = 1,
					   .timeout_ms = 150,
					   .retries = 2,
					   .baud = 115200,
					   .parity = 'N',
					   .data_bits = 8,
					   .stop_bits = 1};
	campaign("rtu", args, &metro_driver_modbus_rtu, &cc, 1);
}

/* Kill the simulator under a connected device and start it again: reads fail quickly while it
 * is gone (never a value, never longer than the bound), then the device reconnects by itself
 * (backoff capped at 5 s) and reads the new simulator's values. */
static void reconnect(const char *label, const char *const *args, const struct metro_driver *drv,
		      struct metro_connection_conf *cc)
{
	char *bin = tu_build_path("metrosim");
	const char *argv[32];
	size_t n = 0;
	argv[n++] = bin;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char first[256];
	int pid = tu_spawn(argv, dir, label, first, sizeof first);
	assert_true(pid > 0);
	struct metro_profile *p = profile("config/profiles/flow-bench.yaml", 10);
	struct metro_driver_conn conn = {label, cc, p};
	struct metro_device *dev;
	assert_int_equal(metro_device_new(drv, &conn, &dev), 0);
	const struct metro_channel *sp = metro_profile_channel(p, "flow.setpoint");
	assert_int_equal(metro_device_write(dev, sp, 2.5), 0);
	double v = -1;
	assert_int_equal(metro_device_read1(dev, sp, &v), 0);
	assert_true(v == 2.5);

	tu_stop(pid);
	uint64_t bound = (uint64_t)(cc->timeout_ms * (cc->retries + 1) + 100) * 1000000u;
	int failures = 0;
	for (int i = 0; i < 20; i++) {
		v = -1;
		uint64_t t0 = metro_now_ns();
		int rc = metro_device_read1(dev, sp, &v);
		uint64_t dt = metro_now_ns() - t0;
		assert_true(dt <= bound);
		if (rc) {
			failures++;
			assert_true(v == -1); /* no value on an error */
		}
	}
	assert_int_equal(failures, 20);
	pid = tu_spawn(argv, dir, label, first, sizeof first);
	assert_true(pid > 0);
	/* The new simulator starts with a setpoint of 0: reading 0 proves we talk to it. */
	int rc = -1;
	uint64_t t0 = metro_now_ns();
	while (rc != 0 && metro_now_ns() - t0 < 8000000000ull) {
		rc = metro_device_read1(dev, sp, &v);
		if (rc) {
			struct timespec ts = {0, 100000000};
			nanosleep(&ts, NULL);
		}
	}
	double secs = (double)(metro_now_ns() - t0) / 1e9;
	assert_int_equal(rc, 0);
	assert_true(v == 0.0);
	struct metro_device_stats st;
	metro_device_stats(dev, &st);
	printf("%s: reconnected %.2f s after the simulator came back; reconnects %llu, "
	       "io errors %llu, timeouts %llu\n",
	       label, secs, (unsigned long long)st.reconnects, (unsigned long long)st.io_errors,
	       (unsigned long long)st.timeouts);
	assert_int_equal(st.reconnects, 1);
	metro_device_destroy(&dev);
	metro_profile_destroy(&p);
	tu_stop(pid);
	free(bin);
}

static void test_tcp_reconnect(void **state)
{
	(void)state;
	int port = tu_free_port();
	char *addr = metro_asprintf("127.0.0.1:%d", port);
	const char *args[] = {"--rig", "flow-bench", "--modbus-tcp", addr, NULL};
	struct metro_connection_conf cc = {
		.host = "127.0.0.1", .port = port, .unit = 1, .timeout_ms = 150, .retries = 1};
	reconnect("tcp-reconnect", args, &metro_driver_modbus_tcp, &cc);
	free(addr);
}

static void test_rtu_reconnect(void **state)
{
	(void)state;
	char *link = metro_asprintf("%s/rig.pty", dir);
	const char *args[] = {"--rig", "flow-bench", "--modbus-rtu", "--pty-link", link, NULL};
	struct metro_connection_conf cc = {.device = link,
					   .unit = 1,
					   .timeout_ms = 150,
					   .retries = 1,
					   .baud = 115200,
					   .parity = 'N',
					   .data_bits = 8,
					   .stop_bits = 1};
	reconnect("rtu-reconnect", args, &metro_driver_modbus_rtu, &cc);
	free(link);
}

int main(void)
{
	tu_srcdir();
	dir = tu_tmpdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_rtu),
		cmocka_unit_test(test_tcp_reconnect),
		cmocka_unit_test(test_rtu_reconnect),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmtree(dir);
	free(dir);
	return rc;
}
