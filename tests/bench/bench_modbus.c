/* bench_modbus — driver-layer read rate against a raw libmodbus read loop, same server, same
 * run.  The server is a plain libmodbus TCP server on 127.0.0.1 in a thread of this process;
 * both loops read the same 10 holding registers (5 f32 channels for the driver path, which
 * plans them into one request and decodes them) and alternate in rounds so that drift of the
 * machine affects both alike; the ratio is the median of the rounds' ratios (rounds.h).
 * Prints one JSON object per figure on stdout. */
#include <modbus.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device.h"
#include "driver.h"
#include "log.h"
#include "util.h"
#include "rounds.h"

static int port;
static volatile int stop;

static void *server(void *arg)
{
	(void)arg;
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	modbus_mapping_t *map = modbus_mapping_new(0, 0, 200, 200);
	int s = modbus_tcp_listen(ctx, 4);
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	while (!stop) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			break;
		modbus_set_socket(ctx, fd);
		for (;;) {
			int rc = modbus_receive(ctx, q);
			if (rc > 0)
				modbus_reply(ctx, q, rc, map);
			else if (rc == -1)
				break;
		}
		close(fd);
	}
	close(s);
	modbus_mapping_free(map);
	modbus_free(ctx);
	return NULL;
}

static double raw_rate(int n)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	if (modbus_connect(ctx) == -1)
		abort();
	uint16_t regs[10];
	uint64_t t0 = metro_now_ns();
	for (int i = 0; i < n; i++)
		if (modbus_read_registers(ctx, 0, 10, regs) != 10)
			abort();
	double dt = (double)(metro_now_ns() - t0) / 1e9;
	modbus_close(ctx);
	modbus_free(ctx);
	return n / dt;
}

static double driver_rate(int n, const struct metro_profile *p)
{
	struct metro_connection_conf cc = {
		.host = "127.0.0.1", .port = port, .unit = 1, .timeout_ms = 1000, .retries = 0};
	struct metro_driver_conn conn = {"bench", &cc, p};
	struct metro_device *dev;
	if (metro_device_new(&metro_driver_modbus_tcp, &conn, &dev) || metro_device_connect(dev))
		abort();
	const struct metro_channel *chs[5];
	for (int i = 0; i < 5; i++)
		chs[i] = &p->channels[i];
	double v[5];
	uint64_t t0 = metro_now_ns();
	for (int i = 0; i < n; i++)
		if (metro_device_read(dev, chs, 5, v))
			abort();
	double dt = (double)(metro_now_ns() - t0) / 1e9;
	metro_device_destroy(&dev);
	return n / dt;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	const char *profile = argc > 2 ? argv[2] : "tests/bench/bench-5f32.yaml";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	pthread_t th;
	pthread_create(&th, NULL, server, NULL);
	usleep(100000);
	struct metro_diag d;
	struct metro_profile *p;
	metro_diag_init(&d);
	if (metro_profile_load(profile, 1, &d, &p)) {
		metro_diag_print(&d, stderr);
		return 1;
	}
	enum { ROUNDS = 5 };
	double raw[ROUNDS], drv[ROUNDS], ratio[ROUNDS];
	raw_rate(n / 10); /* warm up */
	driver_rate(n / 10, p);
	for (int r = 0; r < ROUNDS; r++) {
		raw[r] = raw_rate(n);
		drv[r] = driver_rate(n, p);
		ratio[r] = drv[r] / raw[r];
	}
	printf("{\"figure\":\"modbus-tcp reads/s, 10 registers (median of %d paired rounds of "
	       "%d)\","
	       "\"metrod\":%.0f,\"baseline\":%.0f,",
	       ROUNDS, n, bench_median(drv, ROUNDS), bench_median(raw, ROUNDS));
	bench_print_ratio(stdout, bench_spread(ratio, ROUNDS), 3);
	printf(",\"target\":\">= 0.9\",\"baseline_is\":\"raw libmodbus read loop\","
	       "\"higher_is_better\":true}\n");
	stop = 1;
	metro_profile_destroy(&p);
	metro_diag_free(&d);
	/* The server thread blocks in accept(); the process exit ends it. */
	return 0;
}
