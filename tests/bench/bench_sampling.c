/* bench_sampling — sampling lateness of metrod's rig actors against a bare clock_nanosleep
 * loop, and the cost of many rigs in one daemon.
 *
 * Lateness, at 100 Hz and at 1 kHz.  metrod measures a tick's lateness at wake-up, before the
 * device read, and reports the p50, p99 and max of each one-second window in its health
 * documents.  The bare loop, in this process, sleeps to absolute CLOCK_MONOTONIC deadlines on
 * the rig's grid (a deadline already past is skipped, not caught up), without timer slack
 * (the rig's timerfd has none), and closes its windows by the rig's rule, so that both sides
 * are the same statistic over the same length of time.  ROUNDS paired rounds: one window of
 * the bare loop while metrod and its metrosim are stopped (SIGSTOP), one window of metrod
 * sampling while the bare loop does not run; the order alternates from round to round, and
 * the window that holds a stop is left out.  The machine's load changes from second to second
 * on a shared VM, and a window's p99 (at 100 Hz its largest or second largest tick) takes a
 * 2-18 ms stall whole: the rounds are short so that both sides of a round see the same
 * machine, and many so that their median holds still.  The ratio is metrod / bare per round
 * (lower is better; target <= 1.5 for p99); the figure is the median of the rounds' ratios
 * with their quartiles and range (rounds.h), metrod and bare the medians of the rounds'
 * values; the worst tick of all rounds is in the label.
 * Scale: 32 rigs of 48 positions in one daemon, all reading one metrosim, for 10 s: RSS,
 * CPU per rig, dropped ticks.  Prints one JSON object per figure. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "util.h"
#include "rounds.h"

#ifndef ROUNDS
#define ROUNDS 31
#endif

static const char *build;
static char dir[] = "/tmp/metrod-bench-XXXXXX";

/* One health window: p50, p99 and max lateness in microseconds; for metrod, its device's
 * timeouts so far. */
struct window {
	double p50, p99, max;
	long timeouts;
};

/* Close a window of n lateness values (us) as daemon/rig.c does. */
static void window_close(double *late, size_t n, struct window *w)
{
	qsort(late, n, sizeof *late, bench_cmp);
	w->p50 = late[n / 2];
	w->p99 = late[(n * 99) / 100];
	w->max = late[n - 1];
	w->timeouts = 0;
}

/* One window of the bare loop at hz.  Like the rig: the window opens at a tick (whose own
 * lateness belongs to the window before) and closes at the first tick a second or more later. */
static void bare(double hz, struct window *w)
{
	size_t cap = (size_t)(hz * 2) + 16, n = 0;
	double *late = metro_calloc(cap, sizeof *late);
	prctl(PR_SET_TIMERSLACK, 1UL); /* 50 us by default; the rig's timerfd has none */
	uint64_t period = (uint64_t)(1e9 / hz), next = metro_now_ns() + period, close_at = 0;
	for (;;) {
		struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		uint64_t now = metro_now_ns();
		if (close_at && n < cap)
			late[n++] = (double)(now - next) / 1e3;
		next += ((now > next ? (now - next) / period : 0) + 1) * period;
		if (!close_at)
			close_at = now + 1000000000u;
		else if (now >= close_at)
			break;
	}
	window_close(late, n, w);
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
	fprintf(stderr, "bench_sampling: metrosim did not say its port (%s)\n", file);
	exit(1);
}

/* A port the kernel has just handed out and that nobody listens on. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

/* A metrosim and a metrod with nrigs rigs of `positions` positions sampling at hz, and a
 * subscriber to their health documents. */
struct daemon {
	pid_t sim, md;
	void *ctx, *sub;
};

/* The daemon and simulator running: the signal that ends this process ends them (stopped,
 * they would not see a ^C). */
static volatile pid_t children[2];

static void on_signal(int sig)
{
	for (int i = 0; i < 2; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void write_config(const char *cfg, const char *simout, int nrigs, int positions, double hz,
			 int port)
{
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
		free_port(), port, dir, cwd);
	int simport = first_port(simout);
	for (int i = 0; i < nrigs; i++)
		fprintf(f,
			"  - {id: r%d, kind: flow-bench, driver: modbus-tcp, connection: {host: "
			"127.0.0.1, port: %d}, profile: %s/config/profiles/flow-bench.yaml, "
			"positions: %d, standards: [s], sample_hz: %g}\n",
			i, simport, cwd, positions, hz);
	fclose(f);
}

static void daemon_start(struct daemon *d, int nrigs, int positions, double hz)
{
	char simbin[256], metrod[256], simout[512], cfg[512], out[512], pos[16], ep[64];
	snprintf(simbin, sizeof simbin, "%s/metrosim", build);
	snprintf(metrod, sizeof metrod, "%s/metrod", build);
	snprintf(simout, sizeof simout, "%s/sim.out", dir);
	snprintf(cfg, sizeof cfg, "%s/metrod.yaml", dir);
	snprintf(out, sizeof out, "%s/metrod.out", dir);
	snprintf(pos, sizeof pos, "%d", positions);
	const char *sargv[] = {simbin,	      "--rig",	     "flow-bench", "--modbus-tcp",
			       "127.0.0.1:0", "--positions", pos,	   NULL};
	children[0] = d->sim = spawn(sargv, simout);
	int pub = free_port();
	write_config(cfg, simout, nrigs, positions, hz, pub);
	const char *margv[] = {metrod, "-c", cfg, NULL};
	children[1] = d->md = spawn(margv, out);
	d->ctx = zmq_ctx_new();
	d->sub = zmq_socket(d->ctx, ZMQ_SUB);
	snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", pub);
	zmq_connect(d->sub, ep);
	zmq_setsockopt(d->sub, ZMQ_SUBSCRIBE, "health.", 7);
}

static void daemon_stop(struct daemon *d)
{
	zmq_close(d->sub);
	zmq_ctx_term(d->ctx);
	kill(d->md, SIGTERM);
	waitpid(d->md, NULL, 0);
	kill(d->sim, SIGTERM);
	waitpid(d->sim, NULL, 0);
	children[0] = children[1] = 0;
}

/* The next health document within timeout_ms, or NULL. */
static json_t *next_health(struct daemon *d, int timeout_ms)
{
	zmq_pollitem_t it = {d->sub, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return NULL;
	zmq_msg_t t, b;
	zmq_msg_init(&t);
	zmq_msg_init(&b);
	zmq_msg_recv(&t, d->sub, 0);
	zmq_msg_recv(&b, d->sub, 0);
	json_t *doc = json_loadb(zmq_msg_data(&b), zmq_msg_size(&b), 0, NULL);
	zmq_msg_close(&t);
	zmq_msg_close(&b);
	return doc;
}

/* Stop (SIGSTOP) or continue (SIGCONT) the daemon and its simulator; a stop returns once both
 * are stopped. */
static int stopped(pid_t pid)
{
	char path[64], *txt = NULL;
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (metro_read_file(path, 4096, &txt, NULL))
		return 0;
	const char *p = strrchr(txt, ')');
	int t = p && p[1] == ' ' && p[2] == 'T';
	free(txt);
	return t;
}

static void pause_daemon(struct daemon *d, int stop)
{
	if (!stop) {
		kill(d->sim, SIGCONT);
		kill(d->md, SIGCONT);
		return;
	}
	kill(d->md, SIGSTOP);
	kill(d->sim, SIGSTOP);
	for (int i = 0; i < 1000 && !(stopped(d->md) && stopped(d->sim)); i++)
		usleep(1000);
	if (!(stopped(d->md) && stopped(d->sim))) {
		fprintf(stderr, "bench_sampling: metrod or metrosim did not stop (see %s)\n", dir);
		on_signal(SIGTERM);
	}
}

/* The next health window of the running daemon that began after `since` (monotonic ns, the
 * last time it was continued): the window in progress when it was stopped holds the stop,
 * and is published at the first tick after it continues, within a period of `since`; the next
 * one starts then.  So every document received in the first half second after `since` is
 * left out (with any sent before the stop). */
static void daemon_window(struct daemon *d, double hz, uint64_t since, struct window *w)
{
	for (uint64_t end = metro_now_ns() + 10000000000u; metro_now_ns() < end;) {
		json_t *doc = next_health(d, 200);
		json_t *ticks = json_object_get(doc, "ticks");
		int ok = ticks && metro_now_ns() >= since + 500000000u;
		if (ok)
			*w = (struct window){
				json_number_value(json_object_get(ticks, "lateness_p50_us")),
				json_number_value(json_object_get(ticks, "lateness_p99_us")),
				json_number_value(json_object_get(ticks, "lateness_max_us")),
				(long)json_integer_value(json_object_get(
					json_object_get(doc, "device"), "timeouts"))};
		json_decref(doc);
		if (ok)
			return;
	}
	fprintf(stderr, "bench_sampling: no health document at %g Hz in 10 s (see %s)\n", hz, dir);
	exit(1);
}

static void print_lateness(double hz, const struct window *b, const struct window *m)
{
	double r50[ROUNDS], r99[ROUNDS], b50[ROUNDS], b99[ROUNDS], m50[ROUNDS], m99[ROUNDS];
	double bmax = 0, mmax = 0;
	for (int r = 0; r < ROUNDS; r++) {
		b50[r] = b[r].p50, b99[r] = b[r].p99, m50[r] = m[r].p50, m99[r] = m[r].p99;
		r50[r] = b[r].p50 > 0 ? m[r].p50 / b[r].p50 : 0;
		r99[r] = b[r].p99 > 0 ? m[r].p99 / b[r].p99 : 0;
		bmax = b[r].max > bmax ? b[r].max : bmax;
		mmax = m[r].max > mmax ? m[r].max : mmax;
	}
	fprintf(stderr, "bench_sampling: %.0f Hz, metrod / bare per round, p99:", hz);
	for (int r = 0; r < ROUNDS; r++)
		fprintf(stderr, " %.2f", r99[r]);
	fprintf(stderr, "; p50:");
	for (int r = 0; r < ROUNDS; r++)
		fprintf(stderr, " %.2f", r50[r]);
	fprintf(stderr, "; device timeouts %ld\n", m[ROUNDS - 1].timeouts);
	printf("{\"figure\":\"sampling lateness p99 at %.0f Hz, us (%d paired rounds of one "
	       "second each; worst tick metrod %.0f / bare %.0f)\",\"metrod\":%.0f,"
	       "\"baseline\":%.0f,",
	       hz, ROUNDS, mmax, bmax, bench_median(m99, ROUNDS), bench_median(b99, ROUNDS));
	bench_print_ratio(stdout, bench_spread(r99, ROUNDS), 2);
	printf(",\"target\":\"<= 1.5\",\"baseline_is\":\"bare clock_nanosleep loop; ratio "
	       "metrod/baseline, lower is better\"}\n");
	printf("{\"figure\":\"sampling lateness p50 at %.0f Hz, us (the same rounds)\","
	       "\"metrod\":%.0f,\"baseline\":%.0f,",
	       hz, bench_median(m50, ROUNDS), bench_median(b50, ROUNDS));
	bench_print_ratio(stdout, bench_spread(r50, ROUNDS), 2);
	printf(",\"target\":\"-\",\"baseline_is\":\"bare clock_nanosleep loop; ratio "
	       "metrod/baseline, lower is better\"}\n");
	fflush(stdout);
}

/* ROUNDS paired rounds at hz: the bare loop runs while metrod and metrosim are stopped, metrod
 * samples while the bare loop does not; the order alternates from round to round. */
static void lateness(double hz)
{
	struct daemon d;
	struct window b[ROUNDS], m[ROUNDS];
	daemon_start(&d, 1, 10, hz);
	/* the first window holds the start and the connection to the simulator */
	for (uint64_t end = metro_now_ns() + 20000000000u; metro_now_ns() < end;) {
		json_t *doc = next_health(&d, 200);
		int health = json_object_get(doc, "ticks") != NULL;
		json_decref(doc);
		if (health)
			break;
	}
	uint64_t since = metro_now_ns() - 500000000u; /* every document from now on */
	int running = 1;
	for (int r = 0; r < ROUNDS; r++) {
		for (int k = 0; k < 2; k++) {
			if ((k + r) % 2 == 0) {
				if (running)
					pause_daemon(&d, 1);
				running = 0;
				bare(hz, &b[r]);
			} else {
				if (!running) {
					pause_daemon(&d, 0);
					since = metro_now_ns();
				}
				running = 1;
				daemon_window(&d, hz, since, &m[r]);
			}
		}
	}
	if (!running)
		pause_daemon(&d, 0);
	daemon_stop(&d);
	print_lateness(hz, b, m);
}

/* 32 rigs of 48 positions at 10 Hz for `seconds`: RSS, CPU after the first 2 s, and the
 * last health document of every rig. */
static void scale(double seconds)
{
	enum { NRIGS = 32 };
	struct daemon d;
	daemon_start(&d, NRIGS, 48, 10);
	json_t *last[NRIGS] = {0};
	uint64_t start = metro_now_ns(), end = start + (uint64_t)(seconds * 1e9);
	double cpu0 = -1, cpu1 = 0;
	char stat[64], status[64], *txt = NULL;
	snprintf(stat, sizeof stat, "/proc/%d/stat", d.md);
	snprintf(status, sizeof status, "/proc/%d/status", d.md);
	while (metro_now_ns() < end) {
		json_t *doc = next_health(&d, 200);
		const char *rig = json_string_value(json_object_get(doc, "rig"));
		int k = rig ? atoi(rig + 1) : -1;
		if (k >= 0 && k < NRIGS) {
			json_decref(last[k]);
			last[k] = doc;
		} else {
			json_decref(doc);
		}
		if (cpu0 < 0 && metro_now_ns() > start + 2000000000u &&
		    !metro_read_file(stat, 4096, &txt, NULL)) {
			long ut = 0, st = 0;
			sscanf(strrchr(txt, ')') + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st);
			cpu0 = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
			free(txt);
		}
	}
	double rss_mb = 0;
	if (!metro_read_file(status, 1 << 16, &txt, NULL)) {
		char *p = strstr(txt, "VmRSS:");
		rss_mb = p ? atof(p + 6) / 1024 : 0;
		free(txt);
	}
	if (!metro_read_file(stat, 4096, &txt, NULL)) {
		long ut = 0, st = 0;
		sscanf(strrchr(txt, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
		       &ut, &st);
		cpu1 = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		free(txt);
	}
	double cpu_s = cpu0 >= 0 ? cpu1 - cpu0 : cpu1;
	long dropped = 0;
	int seen = 0;
	for (int i = 0; i < NRIGS; i++) {
		if (!last[i])
			continue;
		json_t *ticks = json_object_get(last[i], "ticks");
		dropped += (long)json_integer_value(json_object_get(ticks, "dropped"));
		seen++;
		json_decref(last[i]);
	}
	daemon_stop(&d);
	printf("{\"figure\":\"32 rigs x 48 positions at 10 Hz in one daemon: RSS MB (CPU %.2f "
	       "ms/s per rig, %d rigs reporting)\",\"metrod\":%.1f,\"baseline\":64,\"ratio\":%.2f,"
	       "\"target\":\"<= 1\",\"baseline_is\":\"the 64 MB budget\"}\n",
	       cpu_s / (seconds - 2) / NRIGS * 1000, seen, rss_mb, rss_mb / 64);
	printf("{\"figure\":\"32 rigs x 48 positions: dropped ticks over the run\","
	       "\"metrod\":%ld,\"baseline\":0,\"ratio\":\"-\",\"target\":\"<= 0\","
	       "\"baseline_is\":\"none allowed\"}\n",
	       dropped);
	fflush(stdout);
}

int main(void)
{
	build = getenv("METRO_BUILD") ? getenv("METRO_BUILD") : "build";
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (!mkdtemp(dir))
		abort();
	lateness(100);
	lateness(1000);
	scale(10);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) != 0;
}
