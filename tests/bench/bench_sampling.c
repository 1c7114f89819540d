/* bench_sampling — sampling lateness of metrod's rig actors against a bare clock_nanosleep
 * loop, and the cost of many rigs in one daemon.
 *
 * Lateness: a bare loop sleeping to absolute CLOCK_MONOTONIC deadlines at 100 Hz and 1 kHz
 * measures how late the kernel wakes a thread here; then metrod samples one simulated rig at
 * the same rates and reports its own lateness (measured at wake-up, before the device read) in
 * its health documents.  Ratio = metrod p99 / bare p99 (lower is better; target <= 1.5).
 * Scale: 32 rigs of 48 positions in one daemon, all reading one metrosim, for 10 s: RSS,
 * CPU per rig, dropped ticks.  Prints one JSON object per figure. */
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "util.h"

static const char *build;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* p50, p99, max of a bare absolute-deadline loop, in microseconds. */
static void bare(double hz, double seconds, double out[3])
{
	size_t n = (size_t)(hz * seconds);
	double *late = metro_calloc(n, sizeof *late);
	uint64_t period = (uint64_t)(1e9 / hz), next = metro_now_ns() + period;
	for (size_t i = 0; i < n; i++) {
		struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		late[i] = (double)(metro_now_ns() - next) / 1e3;
		next += period;
	}
	qsort(late, n, sizeof *late, cmp);
	out[0] = late[n / 2];
	out[1] = late[n * 99 / 100];
	out[2] = late[n - 1];
	free(late);
}

static pid_t spawn(const char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, 01101, 0644); /* O_WRONLY|O_CREAT|O_TRUNC */
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
	pid_t pid;
	if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ))
		abort();
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int first_port(const char *file)
{
	for (int i = 0; i < 200; i++) {
		char *t = NULL;
		if (!metro_read_file(file, 4096, &t, NULL)) {
			char *c = strrchr(t, ':');
			int port = c ? atoi(c + 1) : 0;
			free(t);
			if (port)
				return port;
		}
		usleep(50000);
	}
	abort();
}

static int free_port(void)
{
	static int next = 0;
	if (!next)
		next = 20000 + (int)(getpid() % 20000);
	return next++;
}

struct daemon_run {
	double late[3]; /* p99 over rigs of the last health window: p50, p99, max (us) */
	double rss_mb;
	double cpu_s;
	long dropped;
	int rigs_seen;
};

/* Run metrod with nrigs rigs of `positions` positions at hz against one simulator for
 * `seconds`, collecting health documents. */
static void run_daemon(int nrigs, int positions, double hz, double seconds, const char *dir,
		       struct daemon_run *r)
{
	char simbin[256], metrod[256], simout[512], cfg[512], pos[16];
	snprintf(simbin, sizeof simbin, "%s/metrosim", build);
	snprintf(metrod, sizeof metrod, "%s/metrod", build);
	snprintf(simout, sizeof simout, "%s/sim.out", dir);
	snprintf(pos, sizeof pos, "%d", positions);
	const char *sargv[] = {simbin,	      "--rig",	     "flow-bench", "--modbus-tcp",
			       "127.0.0.1:0", "--positions", pos,	   NULL};
	pid_t sim = spawn(sargv, simout);
	int port = first_port(simout);
	int ctl = free_port(), pub = free_port();
	snprintf(cfg, sizeof cfg, "%s/metrod.yaml", dir);
	FILE *f = fopen(cfg, "w");
	char cwd[1024];
	if (!f || !getcwd(cwd, sizeof cwd))
		abort();
	fprintf(f,
		"station: {id: bench, name: B, institution: B, authorisation: B}\n"
		"control: {endpoint: \"tcp://127.0.0.1:%d\"}\npublish: {endpoint: "
		"\"tcp://127.0.0.1:%d\"}\nstore: {path: %s/records.db}\n"
		"procedures: [%s/procedures]\nstandards:\n  - {id: s, description: d, "
		"certificate: c, issuer: i, calibrated: 2026-01-01, due: 2099-01-01, class: "
		"\"0.05\"}\nrigs:\n",
		ctl, pub, dir, cwd);
	for (int i = 0; i < nrigs; i++)
		fprintf(f,
			"  - {id: r%d, kind: flow-bench, driver: modbus-tcp, connection: {host: "
			"127.0.0.1, port: %d}, profile: %s/config/profiles/flow-bench.yaml, "
			"positions: %d, standards: [s], sample_hz: %g}\n",
			i, port, cwd, positions, hz);
	fclose(f);
	char out[512];
	snprintf(out, sizeof out, "%s/metrod.out", dir);
	const char *margv[] = {metrod, "-c", cfg, NULL};
	pid_t md = spawn(margv, out);
	void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
	char ep[64];
	snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", pub);
	zmq_connect(sub, ep);
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "health.", 7);
	json_t **last = metro_calloc((size_t)nrigs, sizeof *last);
	uint64_t end = metro_now_ns() + (uint64_t)(seconds * 1e9);
	double cpu0 = -1;
	while (metro_now_ns() < end) {
		zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
		if (zmq_poll(&it, 1, 200) <= 0)
			continue;
		zmq_msg_t t, b;
		zmq_msg_init(&t);
		zmq_msg_init(&b);
		zmq_msg_recv(&t, sub, 0);
		zmq_msg_recv(&b, sub, 0);
		json_t *doc = json_loadb(zmq_msg_data(&b), zmq_msg_size(&b), 0, NULL);
		const char *rig = json_string_value(json_object_get(doc, "rig"));
		int k = rig ? atoi(rig + 1) : -1;
		if (k >= 0 && k < nrigs) {
			json_decref(last[k]);
			last[k] = doc;
		} else {
			json_decref(doc);
		}
		zmq_msg_close(&t);
		zmq_msg_close(&b);
		if (cpu0 < 0 && metro_now_ns() > end - (uint64_t)(seconds * 1e9) + 2000000000u) {
			char stat[64], *txt = NULL;
			snprintf(stat, sizeof stat, "/proc/%d/stat", md);
			if (!metro_read_file(stat, 4096, &txt, NULL)) {
				char *p = strrchr(txt, ')');
				long ut = 0, st = 0;
				sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
				       &ut, &st);
				cpu0 = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
			}
			free(txt);
		}
	}
	char path[64], *txt = NULL;
	snprintf(path, sizeof path, "/proc/%d/status", md);
	if (!metro_read_file(path, 1 << 16, &txt, NULL)) {
		char *p = strstr(txt, "VmRSS:");
		r->rss_mb = p ? atof(p + 6) / 1024 : 0;
	}
	free(txt);
	snprintf(path, sizeof path, "/proc/%d/stat", md);
	if (!metro_read_file(path, 4096, &txt, NULL)) {
		char *p = strrchr(txt, ')');
		long ut = 0, st = 0;
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st);
		double cpu1 = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		r->cpu_s = cpu0 >= 0 ? cpu1 - cpu0 : cpu1;
	}
	free(txt);
	double *p99 = metro_calloc((size_t)nrigs, sizeof *p99);
	r->dropped = 0;
	r->rigs_seen = 0;
	r->late[0] = r->late[1] = r->late[2] = 0;
	for (int i = 0; i < nrigs; i++) {
		if (!last[i])
			continue;
		json_t *ticks = json_object_get(last[i], "ticks");
		r->dropped += (long)json_integer_value(json_object_get(ticks, "dropped"));
		double a = json_number_value(json_object_get(ticks, "lateness_p50_us"));
		double b = json_number_value(json_object_get(ticks, "lateness_p99_us"));
		double c = json_number_value(json_object_get(ticks, "lateness_max_us"));
		if (a > r->late[0])
			r->late[0] = a;
		if (b > r->late[1])
			r->late[1] = b;
		if (c > r->late[2])
			r->late[2] = c;
		p99[r->rigs_seen++] = b;
		json_decref(last[i]);
	}
	free(p99);
	free(last);
	zmq_close(sub);
	zmq_ctx_term(ctx);
	kill(md, SIGTERM);
	waitpid(md, NULL, 0);
	kill(sim, SIGTERM);
	waitpid(sim, NULL, 0);
}

int main(void)
{
	build = getenv("METRO_BUILD") ? getenv("METRO_BUILD") : "build";
	char dir[] = "/tmp/metrod-bench-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	static const double rates[] = {100, 1000};
	for (int i = 0; i < 2; i++) {
		double b[3];
		struct daemon_run r;
		bare(rates[i], 4, b);
		run_daemon(1, 10, rates[i], 6, dir, &r);
		printf("{\"figure\":\"sampling lateness p99 at %.0f Hz, us (p50 %.0f / max %.0f; "
		       "bare "
		       "loop p50 %.0f / max %.0f)\",\"metrod\":%.0f,\"baseline\":%.0f,"
		       "\"ratio\":%.2f,\"target\":\"<= 1.5\",\"baseline_is\":\"bare "
		       "clock_nanosleep loop; ratio metrod/baseline, lower is better\"}\n",
		       rates[i], r.late[0], r.late[2], b[0], b[2], r.late[1], b[1],
		       b[1] > 0 ? r.late[1] / b[1] : 0);
		fflush(stdout);
	}
	struct daemon_run r;
	run_daemon(32, 48, 10, 10, dir, &r);
	printf("{\"figure\":\"32 rigs x 48 positions at 10 Hz in one daemon: RSS MB (CPU %.2f "
	       "ms/s per rig, %d rigs reporting)\",\"metrod\":%.1f,\"baseline\":64,\"ratio\":%.2f,"
	       "\"target\":\"<= 1\",\"baseline_is\":\"the 64 MB budget\"}\n",
	       r.cpu_s / 8.0 / 32 * 1000, r.rigs_seen, r.rss_mb, r.rss_mb / 64);
	printf("{\"figure\":\"32 rigs x 48 positions: dropped ticks over the run\","
	       "\"metrod\":%ld,\"baseline\":0,\"ratio\":\"-\",\"target\":\"<= 0\","
	       "\"baseline_is\":\"none allowed\"}\n",
	       r.dropped);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
