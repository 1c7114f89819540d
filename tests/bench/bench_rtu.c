/* bench_rtu — Modbus RTU wire-time efficiency: transactions per second through the driver
 * layer against metrosim emulating the line (--baud: every reply is held for the wire time of
 * the request and the reply), compared with the theoretical limit of the line for the same
 * frames: (request + reply bytes) × 11 bits + two 3.5-character gaps.  A 10-register read is
 * an 8-byte request and a 25-byte reply.  ROUNDS rounds of n transactions on one connection;
 * the figure is the median round with the range of the rounds (rounds.h).  Prints one JSON
 * object per baud rate. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device.h"
#include "driver.h"
#include "log.h"
#include "util.h"
#include "rounds.h"

enum { ROUNDS = 5 };

/* The rates of ROUNDS rounds of n transactions each, in rate[]. */
static void run(long baud, int n, double rate[ROUNDS])
{
	char b[16];
	snprintf(b, sizeof b, "%ld", baud);
	const char *build = getenv("METRO_BUILD") ? getenv("METRO_BUILD") : "build";
	char *bin = metro_asprintf("%s/metrosim", build);
	const char *argv[] = {bin, "--rig", "flow-bench", "--modbus-rtu", "--baud", b, NULL};
	int fds[2];
	if (pipe(fds))
		abort();
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	if (posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ))
		abort();
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	char path[256] = "";
	size_t len = 0;
	while (len < sizeof path - 1 && read(fds[0], path + len, 1) == 1 && path[len] != '\n')
		len++;
	path[len] = '\0';
	struct metro_diag d;
	struct metro_profile *p;
	metro_diag_init(&d);
	if (metro_profile_load("config/profiles/flow-bench.yaml", 1, &d, &p))
		abort();
	struct metro_connection_conf cc = {.device = path,
					   .baud = baud,
					   .parity = 'N',
					   .data_bits = 8,
					   .stop_bits = 1,
					   .unit = 1,
					   .timeout_ms = 2000,
					   .retries = 0};
	struct metro_driver_conn conn = {"bench", &cc, p};
	struct metro_device *dev;
	if (metro_device_new(&metro_driver_modbus_rtu, &conn, &dev) || metro_device_connect(dev))
		abort();
	/* input registers 0..9: flow.actual, ref.volume, ref.mass, water.temp, water.pressure */
	const char *names[] = {"flow.actual", "ref.volume", "ref.mass", "water.temp",
			       "water.pressure"};
	const struct metro_channel *chs[5];
	for (int i = 0; i < 5; i++)
		chs[i] = metro_profile_channel(p, names[i]);
	double v[5];
	metro_device_read(dev, chs, 5, v); /* warm up */
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = metro_now_ns();
		for (int i = 0; i < n; i++)
			if (metro_device_read(dev, chs, 5, v)) {
				fprintf(stderr, "bench_rtu: %s\n", metro_device_last_error(dev));
				abort();
			}
		rate[r] = n / ((double)(metro_now_ns() - t0) / 1e9);
	}
	metro_device_destroy(&dev);
	metro_profile_destroy(&p);
	metro_diag_free(&d);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	free(bin);
}

int main(void)
{
	static const long bauds[] = {9600, 115200};
	for (int i = 0; i < 2; i++) {
		double theory = bauds[i] / ((8.0 + 25.0 + 2 * 3.5) * 11.0), rate[ROUNDS],
		       ratio[ROUNDS];
		run(bauds[i], bauds[i] == 9600 ? 40 : 200, rate);
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = rate[r] / theory;
		printf("{\"figure\":\"modbus-rtu transactions/s at %ld baud, 10 registers (line "
		       "emulated by metrosim)\",\"metrod\":%.1f,\"baseline\":%.1f,",
		       bauds[i], bench_median(rate, ROUNDS), theory);
		bench_print_ratio(stdout, bench_spread(ratio, ROUNDS), 3);
		printf(",\"target\":\">= 0.9\",\"baseline_is\":\"theoretical limit of the "
		       "line\"}\n");
		fflush(stdout);
	}
	return 0;
}
