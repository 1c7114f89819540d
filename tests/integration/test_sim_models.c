/* Integration test of metrosim with real processes, real sockets and real ptys: the physics of
 * the three rig models seen through the protocols (a plain libmodbus client and the profile's
 * own serial-line templates), the Modbus exceptions, the command line, and fault injection
 * reconciled count by count with the simulator's --fault-log.
 *
 * Tolerances are derived from the quantities involved, never tuned to pass: the meter counter's
 * resolution over the collected volume, 1/m for an error calculator that counted m reference
 * pulses, the print precision of serial-line replies, the binomial spread of a fault count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <modbus.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "diag.h"
#include "error.h"
#include "lineproto.h"
#include "log.h"
#include "profile.h"
#include "testutil.h"
#include "util.h"

static char *tmpdir;

/* Simulators still running: a failed assertion leaves its test through longjmp, past
 * sim_stop(), so the per-test teardown ends whatever is left here. */
static pid_t live[8];
static size_t nlive;

static void live_add(pid_t pid)
{
	assert_true(nlive < METRO_ARRAY_SIZE(live));
	live[nlive++] = pid;
}

static void live_remove(pid_t pid)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == pid) {
			live[i] = live[--nlive];
			return;
		}
}

/* ---- processes ----------------------------------------------------------------------------- */

struct simproc {
	pid_t pid;
	char first[256]; /* first line of stdout */
	char *errlog;
	int port;
};

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	return (double)metro_now_ns() * 1e-9;
}

/* Start metrosim with args (NULL-terminated); returns the first stdout line in sp->first. */
static void sim_start(struct simproc *sp, const char *const *args)
{
	static int seq;
	memset(sp, 0, sizeof *sp);
	char *bin = tu_build_path("metrosim");
	const char *argv[40];
	size_t n = 0;
	argv[n++] = bin;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	sp->errlog = metro_asprintf("%s/metrosim-%d.err", tmpdir, ++seq);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_addopen(&fa, 2, sp->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = posix_spawn(&sp->pid, bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	free(bin);
	close(fds[1]);
	assert_int_equal(rc, 0);
	live_add(sp->pid);
	size_t len = 0;
	double deadline = now_s() + 15;
	while (len < sizeof sp->first - 1 && now_s() < deadline) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(fds[0], sp->first + len, 1);
		if (k <= 0)
			break;
		if (sp->first[len] == '\n')
			break;
		len++;
	}
	sp->first[len] = '\0';
	close(fds[0]);
	const char *colon = strrchr(sp->first, ':');
	if (!strncmp(sp->first, "listening ", 10) && colon)
		sp->port = atoi(colon + 1);
	if (!sp->first[0]) {
		char *log = NULL;
		size_t ll;
		metro_read_file(sp->errlog, 1 << 16, &log, &ll);
		print_error("metrosim printed nothing; stderr:\n%s\n", log ? log : "");
		free(log);
		fail();
	}
}

/* SIGTERM and wait; returns the exit status (or 128 + signal). */
static int sim_stop(struct simproc *sp)
{
	kill(sp->pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(sp->pid, &st, WNOHANG);
		if (r == sp->pid)
			break;
		msleep(10);
		if (i == 499) {
			kill(sp->pid, SIGKILL);
			waitpid(sp->pid, &st, 0);
		}
	}
	live_remove(sp->pid);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc != 0) {
		/* a sanitizer report or an error message: show it with the failure */
		char *log = NULL;
		size_t ll;
		metro_read_file(sp->errlog, 1 << 20, &log, &ll);
		print_error("metrosim exited %d; stderr:\n%s\n", rc, log ? log : "");
		free(log);
	}
	free(sp->errlog);
	sp->errlog = NULL;
	return rc;
}

/* Run metrosim to completion (for commands that exit by themselves); returns the status and
 * its stdout and stderr. */
static int sim_run(const char *const *args, char **out, char **err)
{
	char *bin = tu_build_path("metrosim");
	const char *argv[40];
	size_t n = 0;
	argv[n++] = bin;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char *o = metro_asprintf("%s/run.out", tmpdir), *e = metro_asprintf("%s/run.err", tmpdir);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, e, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	int st;
	waitpid(pid, &st, 0);
	size_t len;
	*out = *err = NULL;
	metro_read_file(o, 1 << 20, out, &len);
	metro_read_file(e, 1 << 20, err, &len);
	free(o);
	free(e);
	free(bin);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static json_t *fault_log(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		print_error("%s: %s\n", path, je.text);
	assert_non_null(j);
	return j;
}

static long long injected(json_t *log, const char *kind)
{
	return json_integer_value(json_object_get(json_object_get(log, "injected"), kind));
}

/* ---- Modbus access through the profile ----------------------------------------------------- */

struct rig {
	struct metro_profile *p;
	modbus_t *mb;
};

static void rig_open_profile(struct rig *r, const char *kind, int positions)
{
	char *path = metro_asprintf("config/profiles/%s.yaml", kind);
	struct metro_diag d;
	metro_diag_init(&d);
	int rc = metro_profile_load(path, positions, &d, &r->p);
	if (rc)
		metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	free(path);
	assert_int_equal(rc, 0);
}

static void rig_tcp(struct rig *r, const char *kind, int positions, int port, int timeout_ms)
{
	memset(r, 0, sizeof *r);
	rig_open_profile(r, kind, positions);
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	r->mb = modbus_new_tcp_pi("127.0.0.1", ps);
	assert_non_null(r->mb);
	modbus_set_slave(r->mb, 1);
	modbus_set_response_timeout(r->mb, 0, (uint32_t)timeout_ms * 1000);
	assert_int_equal(modbus_connect(r->mb), 0);
}

static void rig_rtu(struct rig *r, const char *kind, int positions, const char *dev, int timeout_ms)
{
	memset(r, 0, sizeof *r);
	rig_open_profile(r, kind, positions);
	r->mb = modbus_new_rtu(dev, 115200, 'N', 8, 1);
	assert_non_null(r->mb);
	modbus_set_slave(r->mb, 1);
	modbus_set_response_timeout(r->mb, 0, (uint32_t)timeout_ms * 1000);
	assert_int_equal(modbus_connect(r->mb), 0);
}

static void rig_close(struct rig *r)
{
	if (r->mb) {
		modbus_close(r->mb);
		modbus_free(r->mb);
	}
	metro_profile_destroy(&r->p);
}

static const struct metro_channel *chan(struct rig *r, const char *name)
{
	const struct metro_channel *c = metro_profile_channel(r->p, name);
	if (!c)
		print_error("no channel %s\n", name);
	assert_non_null(c);
	return c;
}

/* Read a channel; returns 0 and *v, or the errno of the failed transaction. */
static int try_rd(struct rig *r, const char *name, double *v)
{
	const struct metro_channel *c = chan(r, name);
	int rc;
	if (c->table == METRO_TABLE_COIL || c->table == METRO_TABLE_DISCRETE) {
		uint8_t b;
		rc = c->table == METRO_TABLE_COIL
			     ? modbus_read_bits(r->mb, (int)c->address, 1, &b)
			     : modbus_read_input_bits(r->mb, (int)c->address, 1, &b);
		if (rc == 1)
			*v = b;
		return rc == 1 ? 0 : errno;
	}
	uint16_t regs[8];
	rc = c->table == METRO_TABLE_HOLDING
		     ? modbus_read_registers(r->mb, (int)c->address, (int)c->nregs, regs)
		     : modbus_read_input_registers(r->mb, (int)c->address, (int)c->nregs, regs);
	if (rc != (int)c->nregs)
		return errno;
	assert_int_equal(metro_codec_decode(&c->codec, regs, c->nregs, v), 0);
	return 0;
}

static double rd(struct rig *r, const char *name)
{
	double v = 0;
	int e = try_rd(r, name, &v);
	if (e)
		print_error("read %s: %s\n", name, modbus_strerror(e));
	assert_int_equal(e, 0);
	return v;
}

/* Per-position channels: base "volume" and k 3 name "pos[3].volume". */
static double rdf(struct rig *r, const char *base, int k)
{
	char name[64];
	snprintf(name, sizeof name, "pos[%d].%s", k, base);
	return rd(r, name);
}

static void wr(struct rig *r, const char *name, double v)
{
	const struct metro_channel *c = chan(r, name);
	int rc;
	if (c->table == METRO_TABLE_COIL) {
		rc = modbus_write_bit(r->mb, (int)c->address, v != 0);
	} else {
		uint16_t regs[8];
		assert_int_equal(metro_codec_encode(&c->codec, v, regs, c->nregs), 0);
		rc = modbus_write_registers(r->mb, (int)c->address, (int)c->nregs, regs);
	}
	if (rc < 0)
		print_error("write %s: %s\n", name, modbus_strerror(errno));
	assert_true(rc > 0);
}

static void wrf(struct rig *r, const char *base, int k, double v)
{
	char name[64];
	snprintf(name, sizeof name, "pos[%d].%s", k, base);
	wr(r, name, v);
}

/* ---- command line ---------------------------------------------------------------------------- */

static void test_describe_json(void **state)
{
	(void)state;
	const char *args[] = {"--rig", "flow-bench", "--describe", "--json", NULL};
	char *out, *err;
	assert_int_equal(sim_run(args, &out, &err), 0);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "rig")), "flow-bench");
	assert_int_equal(json_integer_value(json_object_get(j, "positions")), 10);
	json_t *chs = json_object_get(j, "channels");
	struct rig r;
	memset(&r, 0, sizeof r);
	rig_open_profile(&r, "flow-bench", 10);
	assert_int_equal(json_array_size(chs), r.p->nchannels);
	/* every channel as the profile loader sees it */
	for (size_t i = 0; i < r.p->nchannels; i++) {
		const struct metro_channel *c = &r.p->channels[i];
		json_t *o = json_array_get(chs, i);
		assert_string_equal(json_string_value(json_object_get(o, "channel")), c->name);
		assert_string_equal(json_string_value(json_object_get(o, "table")),
				    metro_table_name(c->table));
		assert_int_equal(json_integer_value(json_object_get(o, "address")), c->address);
		assert_int_equal(json_is_true(json_object_get(o, "writable")), c->writable);
	}
	json_t *last = json_array_get(chs, r.p->nchannels - 1);
	assert_string_equal(json_string_value(json_object_get(last, "channel")), "pos[10].volume");
	assert_int_equal(json_integer_value(json_object_get(last, "address")), 118);
	assert_string_equal(json_string_value(json_object_get(last, "order")), "CDAB");
	rig_close(&r);
	json_decref(j);
	free(out);
	free(err);

	/* serial-line: templates in both directions */
	const char *a2[] = {"--rig", "bell-prover", "--describe", "--json", NULL};
	assert_int_equal(sim_run(a2, &out, &err), 0);
	j = json_loads(out, 0, &je);
	assert_non_null(j);
	json_t *c0 = json_array_get(json_object_get(j, "channels"), 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(c0, "read"), "command")), "FS?");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(c0, "write"), "reply")),
		"OK*%<xor8>");
	json_decref(j);
	free(out);
	free(err);
}

static void expect_exit2(const char *const *args, const char *needle)
{
	char *out, *err;
	int rc = sim_run(args, &out, &err);
	if (rc != 2 || !strstr(err, needle))
		print_error("exit %d, stderr:\n%s\n(expected '%s')\n", rc, err, needle);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(err, needle));
	free(out);
	free(err);
}

static void test_cli_errors(void **state)
{
	(void)state;
	const char *bad[] = {"--rig",	    "flow-bench", "--modbus-tcp",
			     "127.0.0.1:0", "--meters",	  "tests/data/sim/bad-meters.yaml",
			     NULL};
	/* every mistake of the file, each at its line and column */
	expect_exit2(bad,
		     "tests/data/sim/bad-meters.yaml:4:3: unknown key 'bench.bell_pressure_kpa'");
	expect_exit2(bad, "bad-meters.yaml:7:10: default: give either 'constant' or 'curve'");
	expect_exit2(bad, "bad-meters.yaml:9:39: meters[0].curve[1]: flow 0.2 is not above");
	expect_exit2(bad, "bad-meters.yaml:10:5: meters[1].position: 30, but the rig has 10");
	expect_exit2(bad, "bad-meters.yaml:11:19: unknown key 'meters[2].constnt'");
	const char *elec[] = {
		"--rig",       "electricity-bench", "--modbus-tcp",
		"127.0.0.1:0", "--meters",	    "tests/data/sim/bad-elec-meters.yaml",
		NULL};
	expect_exit2(elec, "bad-elec-meters.yaml:3:28: default.register_resolution_kwh: 0 is out "
			   "of range [1e-06, 100]");
	expect_exit2(elec, "bad-elec-meters.yaml:5:26: meters[0].clock: expected true or false, "
			   "found 'maybe'");
	expect_exit2(elec, "bad-elec-meters.yaml:6:42: meters[1].clock_error_s_per_day: 20000 is "
			   "out of range [-10000, 10000]");
	expect_exit2(elec, "bad-elec-meters.yaml:7:39: meters[2].register_error_pct: -101 is out "
			   "of range [-100, 100]");
	expect_exit2(elec, "bad-elec-meters.yaml:7:69: meters[2].clock_spread_s_per_day: 101 is "
			   "out of range [0, 100]");
	const char *mismatch[] = {"--rig", "flow-bench", "--serial-line", NULL};
	expect_exit2(mismatch, "is a Modbus profile: serve it with --modbus-tcp or --modbus-rtu");
	const char *mismatch2[] = {"--rig", "bell-prover", "--modbus-rtu", NULL};
	expect_exit2(mismatch2, "is a serial-line profile: serve it with --serial-line");
	const char *kind[] = {"--rig",	       "bell-prover",
			      "--profile",     "config/profiles/flow-bench.yaml",
			      "--serial-line", NULL};
	expect_exit2(kind, "is a flow-bench profile, not a bell-prover one");
	const char *spec[] = {"--rig",	     "flow-bench", "--modbus-tcp",
			      "127.0.0.1:0", "--faults",   "noreply=0.5,late=2",
			      NULL};
	expect_exit2(spec, "late=2: expected P:MS");
	const char *stuck[] = {"--rig",	      "flow-bench", "--modbus-tcp",
			       "127.0.0.1:0", "--faults",   "stuck=flow.nothing",
			       NULL};
	expect_exit2(stuck, "stuck=flow.nothing: no such channel");
	const char *nomode[] = {"--rig", "flow-bench", NULL};
	expect_exit2(nomode, "give exactly one of");
}

/* ---- flow bench -------------------------------------------------------------------------------
 */

static void wait_until(struct rig *r, const char *name, double lo, double hi, double timeout_s)
{
	double deadline = now_s() + timeout_s, v = NAN;
	while (now_s() < deadline) {
		v = rd(r, name);
		if (v >= lo && v <= hi)
			return;
		msleep(5);
	}
	print_error("%s = %.9g, waited for [%g, %g]\n", name, v, lo, hi);
	fail();
}

static double water_density(double t)
{
	/* Tanaka et al. 2001, written out again here so that the test checks the simulator */
	return 999.974950 * (1.0 - (t - 3.983035) * (t - 3.983035) * (t + 301.797) /
					   (522528.9 * (t + 69.34881)));
}

static void test_flow_meter_error(void **state)
{
	(void)state;
	struct simproc sp;
	const char *args[] = {"--rig",	      "flow-bench", "--modbus-tcp",
			      "127.0.0.1:0",  "--meters",   "tests/data/sim/flow-bench-meters.yaml",
			      "--time-scale", "200",	    NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 1000);
	const double q2 = 0.042;
	wr(&r, "flow.setpoint", q2);
	wr(&r, "flow.run", 1);
	/* first-order lag, tau 2 s simulated: settled to 1e-6 after ~28 s */
	wait_until(&r, "flow.actual", q2 * (1 - 1e-6), q2 * (1 + 1e-6), 10);
	wr(&r, "totals.reset", 1);
	wr(&r, "totals.reset", 0);
	assert_true(rd(&r, "ref.volume") == 0.0);
	wr(&r, "collect", 1);
	assert_int_equal((int)rd(&r, "status"), 2); /* bit 1: collecting */
	wait_until(&r, "ref.volume", 3.0, 1e9, 20);
	wr(&r, "collect", 0);
	assert_int_equal((int)rd(&r, "status"), 0);
	double va = rd(&r, "ref.volume");
	double mass = rd(&r, "ref.mass");
	double t = rd(&r, "water.temp");
	/* reading again after the collection: nothing moves any more */
	msleep(50);
	assert_true(rd(&r, "ref.volume") == va);
	assert_true(fabs(t - 20.0) < 0.005);
	/* the weighed mass gives the volume back through 1.0011 m / rho(t) (f32 register) */
	double va_from_mass = 1.0011 * mass / water_density(t) * 1000.0;
	assert_true(fabs(va_from_mass - va) / va < 2e-6);
	/* Each meter's count is its indicated volume truncated to 1 mL: E = (Vi - Va) / Va must be
	 * the configured error within one count over Va. */
	const double expect[11] = {0, 0.4, 0.4, 3.5, 0.4, 0, 0.4, -1.25, 0.4, 0.4, 0.4};
	double quantum = 0.001 / va * 100.0;
	/* The setpoint register is f32 (0.042 is 0.04199999943...) and the curves are steep near
	 * Q2 (76 %/(m3/h) at position 3): that, and the last 1e-6 of settling, is < 1e-5 %. */
	const double slack = 1e-5;
	for (int k = 1; k <= 10; k++) {
		double vi = rdf(&r, "volume", k);
		if (k == 5) {
			assert_true(vi == 0.0); /* empty position */
			continue;
		}
		double e = (vi - va) / va * 100.0;
		if (!(e <= expect[k] + slack && e >= expect[k] - quantum - slack))
			print_error("pos %d: E = %.6f %%, expected %.3f %% - [0, %.5f]\n", k, e,
				    expect[k], quantum);
		assert_true(e <= expect[k] + slack && e >= expect[k] - quantum - slack);
	}
	/* the pressure drops with the flow: p0 - 2 kPa/(m3/h)^2 * q^2, 0.1 kPa resolution */
	assert_true(fabs(rd(&r, "water.pressure") - (300.0 - 2.0 * q2 * q2)) <= 0.05 + 1e-9);
	/* totals.reset acts on its rising edge only */
	wr(&r, "totals.reset", 1);
	assert_true(rd(&r, "ref.volume") == 0.0 && rd(&r, "pos[3].volume") == 0.0);
	/* the pump stopped, the flow decays */
	wr(&r, "flow.run", 0);
	wait_until(&r, "flow.actual", 0, q2 * 1e-3, 10);
	/* a setpoint beyond the pump's reach is a bench fault (status bit 0) */
	wr(&r, "flow.setpoint", 50);
	wr(&r, "flow.run", 1);
	assert_int_equal((int)rd(&r, "status.fault"), 1);
	wr(&r, "flow.run", 0);
	char model[17];
	uint16_t regs[8];
	const struct metro_channel *mc = chan(&r, "model");
	assert_int_equal(modbus_read_input_registers(r.mb, (int)mc->address, 8, regs), 8);
	assert_int_equal(metro_codec_decode_str(&mc->codec, regs, 8, model, sizeof model), 0);
	assert_string_equal(model, "metrosim FB-10");
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* One collection of about 30 L at 2.5 m3/h on the spread-meters bench with --seed seed; e[k] is
 * position k's error (%), *quantum one count (1 mL) over the reference volume in %. */
static void spread_run(const char *seed, double e[11], double *quantum)
{
	struct simproc sp;
	const char *args[] = {"--rig",	     "flow-bench", "--modbus-tcp",
			      "127.0.0.1:0", "--meters",   "tests/data/sim/spread-meters.yaml",
			      "--seed",	     seed,	   "--time-scale",
			      "200",	     NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 1000);
	const double q = 2.5;
	wr(&r, "flow.setpoint", q);
	wr(&r, "flow.run", 1);
	wait_until(&r, "flow.actual", q * (1 - 1e-6), q * (1 + 1e-6), 10);
	wr(&r, "totals.reset", 1);
	wr(&r, "totals.reset", 0);
	wr(&r, "collect", 1);
	wait_until(&r, "ref.volume", 30.0, 1e9, 20);
	wr(&r, "collect", 0);
	double va = rd(&r, "ref.volume");
	for (int k = 1; k <= 10; k++)
		e[k] = (rdf(&r, "volume", k) - va) / va * 100.0;
	*quantum = 0.001 / va * 100.0;
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* Meters of one configured curve differ from each other by a seeded individual deviation
 * within the spread; the same seed gives the same meters again, another seed other ones. */
static void test_meter_spread(void **state)
{
	(void)state;
	double a[11], b[11], c[11], qa, qb, qc;
	spread_run("1", a, &qa);
	spread_run("1", b, &qb);
	spread_run("2", c, &qc);
	const double slack = 1e-5, spread = 0.1;
	double q = fmax(qa, fmax(qb, qc));
	const double *runs[3] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		const double *e = runs[i];
		for (int k = 1; k <= 8; k++) {
			if (!(fabs(e[k] - 0.2) <= spread + q + slack))
				print_error("run %d pos %d: E = %.6f %%\n", i, k, e[k]);
			assert_true(fabs(e[k] - 0.2) <= spread + q + slack);
		}
		/* spread: 0 is the curve itself, within one count */
		assert_true(e[9] <= 0.2 + slack && e[9] >= 0.2 - q - slack);
		assert_true(e[10] == -100.0); /* empty: counts nothing */
	}
	/* within one run the eight copies are individuals: they scatter over far more than the
	 * counter's resolution (a uniform draw over +-0.1 % has a standard deviation of 0.058 %;
	 * identical copies would show at most one count, 0.003 %)... */
	double lo = a[1], hi = a[1], sum = 0, sum2 = 0;
	for (int k = 1; k <= 8; k++) {
		lo = fmin(lo, a[k]);
		hi = fmax(hi, a[k]);
		sum += a[k];
	}
	for (int k = 1; k <= 8; k++)
		sum2 += (a[k] - sum / 8) * (a[k] - sum / 8);
	double sd = sqrt(sum2 / 7);
	print_message("seed 1: errors %.4f .. %.4f %%, sd %.4f %%\n", lo, hi, sd);
	assert_true(hi - lo > 20 * q);
	assert_true(sd > 0.02);
	/* ...the same seed reproduces every meter within a count... */
	for (int k = 1; k <= 9; k++) {
		if (!(fabs(a[k] - b[k]) <= 2 * q + slack))
			print_error("pos %d: seed 1 gave %.6f and %.6f %%\n", k, a[k], b[k]);
		assert_true(fabs(a[k] - b[k]) <= 2 * q + slack);
	}
	/* ...and another seed draws other meters (position 9, without spread, stays) */
	int differ = 0;
	for (int k = 1; k <= 8; k++)
		differ += fabs(a[k] - c[k]) > 2 * q + slack;
	assert_true(differ >= 6);
	assert_true(fabs(a[9] - c[9]) <= 2 * q + slack);
}

/* Send a raw request (unit id first) and return the exception code, or 0 for a normal reply. */
static int raw_exception(modbus_t *mb, const uint8_t *req, int len)
{
	uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	assert_true(modbus_send_raw_request(mb, req, len) > 0);
	int n = modbus_receive_confirmation(mb, rsp);
	assert_true(n > 8);
	return rsp[7] & 0x80 ? rsp[8] : 0;
}

static void test_modbus_exceptions(void **state)
{
	(void)state;
	struct simproc sp;
	const char *args[] = {"--rig", "flow-bench", "--modbus-tcp", "127.0.0.1:0", NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 1000);
	uint16_t regs[16];
	uint8_t bits[8];
	/* holes of a few registers inside a block read as 0, far outside is refused */
	assert_int_equal(modbus_read_input_registers(r.mb, 0, 12, regs), 12);
	assert_int_equal(modbus_read_input_registers(r.mb, 40, 1, regs), -1);
	assert_int_equal(errno, EMBXILADD);
	assert_int_equal(modbus_read_registers(r.mb, 0, 3, regs), -1);
	assert_int_equal(errno, EMBXILADD);
	/* writes only where a writable channel is */
	assert_int_equal(modbus_write_register(r.mb, 5, 1), -1);
	assert_int_equal(errno, EMBXILADD);
	assert_int_equal(modbus_write_bit(r.mb, 3, 1), -1);
	assert_int_equal(errno, EMBXILADD);
	assert_int_equal(modbus_read_bits(r.mb, 0, 3, bits), 3);
	/* a NaN setpoint is refused as a value, and nothing is written */
	uint16_t nan_regs[2] = {0x7fc0, 0x0000};
	assert_int_equal(modbus_write_registers(r.mb, 0, 2, nan_regs), -1);
	assert_int_equal(errno, EMBXILVAL);
	assert_true(rd(&r, "flow.setpoint") == 0.0);
	/* raw requests: quantity 0, a coil value that is not ON/OFF, an unknown function */
	const uint8_t q0[] = {1, 0x04, 0, 0, 0, 0};
	assert_int_equal(raw_exception(r.mb, q0, sizeof q0), 3);
	const uint8_t coil[] = {1, 0x05, 0, 0, 0x12, 0x34};
	assert_int_equal(raw_exception(r.mb, coil, sizeof coil), 3);
	const uint8_t fc43[] = {1, 0x2b, 0x0e, 0x01, 0x00};
	assert_int_equal(raw_exception(r.mb, fc43, sizeof fc43), 1);
	/* another unit behind this "gateway": exception 11 */
	const uint8_t unit9[] = {9, 0x04, 0, 0, 0, 1};
	assert_int_equal(raw_exception(r.mb, unit9, sizeof unit9), 11);
	/* report slave id */
	uint8_t id[MODBUS_MAX_PDU_LENGTH];
	int n = modbus_report_slave_id(r.mb, sizeof id, id);
	assert_true(n > 2);
	assert_int_equal(id[1], 0xff);
	assert_memory_equal(id + 2, "metrosim flow-bench", 19);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* ---- electricity bench ------------------------------------------------------------------------
 */

static void wait_status(struct rig *r, int k, int want, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	int s = -1;
	while (now_s() < deadline) {
		s = (int)rdf(r, "status", k);
		if (s == want)
			return;
		msleep(10);
	}
	print_error("pos %d: status %d, waited for %d\n", k, s, want);
	fail();
}

static void arm(struct rig *r, int k)
{
	wrf(r, "start", k, 0);
	wrf(r, "start", k, 1);
}

static void test_elec_calculators(void **state)
{
	(void)state;
	struct simproc sp;
	const char *args[] = {"--rig",
			      "electricity-bench",
			      "--modbus-tcp",
			      "127.0.0.1:0",
			      "--meters",
			      "tests/data/sim/electricity-bench-meters.yaml",
			      "--time-scale",
			      "100",
			      NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "electricity-bench", 24, sp.port, 1000);
	assert_true(rd(&r, "ref.constant") == 2000000.0);
	const double c = 1000, n = 10, c0 = 2e6;
	for (int k = 1; k <= 4; k++) {
		wrf(&r, "meter_constant", k, c);
		wrf(&r, "pulses_n", k, n);
	}
	wr(&r, "source.voltage", 230);
	wr(&r, "source.current", 5);
	wr(&r, "source.frequency", 50);
	/* three power factors: the meter at position 2 has its own error at each */
	static const struct {
		double phase, err2;
	} pts[] = {
		{0.0, 0.5 + (5.0 - 1.0) / 9.0 * 1.0}, /* pf 1: interpolated between 1 A and 10 A */
		{60.0, -0.8},			      /* 0.5L */
		{-36.869897645844021, 0.3},	      /* 0.8C */
	};
	wr(&r, "source.on", 1);
	for (size_t i = 0; i < METRO_ARRAY_SIZE(pts); i++) {
		wr(&r, "source.phase", pts[i].phase);
		wait_until(&r, "ref.current", 5 - 1e-6, 5 + 1e-6, 10);
		wait_until(&r, "ref.phase", pts[i].phase - 1e-5, pts[i].phase + 1e-5, 10);
		double p = rd(&r, "ref.power"), pw = 230 * 5 * cos(pts[i].phase * M_PI / 180);
		if (fabs(p - pw) > 1e-3)
			print_error("phase %g: ref.power %.6f W, want %.6f W\n", pts[i].phase, p,
				    pw);
		assert_true(fabs(p - pw) <= 1e-3);
		for (int k = 1; k <= 4; k++)
			arm(&r, k);
		assert_int_equal((int)rd(&r, "pos[1].status"), 1);
		wait_status(&r, 1, 2, 30);
		wait_status(&r, 2, 2, 30);
		for (int k = 1; k <= 2; k++) {
			double m = rdf(&r, "ref_pulses", k);
			double e = rdf(&r, "error", k);
			double m0 = c0 * n / c;
			/* the register holds the calculator's own arithmetic, to 0.0001 % */
			assert_true(fabs(e - (m0 - m) / m * 100) <= 0.5e-4 + 1e-9);
			/* and that equals the meter's error within the pulse quantisation 1/m */
			double want = k == 2 ? pts[i].err2 : 0.0;
			double tol = 100.0 / m * (1 + fabs(want) / 100) + 1e-4;
			if (fabs(e - want) > tol)
				print_error("pf point %zu pos %d: error %.5f %%, want %.5f +- %.5f "
					    "(m = %.0f)\n",
					    i, k, e, want, tol, m);
			assert_true(fabs(e - want) <= tol);
		}
		/* the empty position never finishes and counts no pulses */
		assert_int_equal((int)rd(&r, "pos[4].status"), 1);
		assert_true(rd(&r, "pos[4].meter_pulses") == 0.0);
	}
	/* disarming a counting calculator cancels it */
	arm(&r, 3);
	wrf(&r, "start", 3, 0);
	assert_int_equal((int)rd(&r, "pos[3].status"), 0);
	/* the energy of the reference meter keeps growing */
	double e1 = rd(&r, "ref.energy");
	msleep(100);
	assert_true(rd(&r, "ref.energy") > e1);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* Wait until pos[k].<base> reads want. */
static void wait_pos(struct rig *r, const char *base, int k, double want, double timeout_s)
{
	double deadline = now_s() + timeout_s, v = -1;
	while (now_s() < deadline) {
		v = rdf(r, base, k);
		if (v == want)
			return;
		msleep(10);
	}
	print_error("pos %d: %s %g, waited for %g\n", k, base, v, want);
	fail();
}

static int on_step(double v, double step)
{
	return fabs(v / step - round(v / step)) < 1e-6;
}

/* One simulator with the register/clock meters and seed: the registers (first run only,
 * check_register) and the clock calculators; clk[k] = position k's daily error (s/d). */
static void register_clock_run(const char *seed, int check_register, double clk[8])
{
	struct simproc sp;
	const char *args[] = {"--rig",
			      "electricity-bench",
			      "--modbus-tcp",
			      "127.0.0.1:0",
			      "--positions",
			      "7",
			      "--meters",
			      "tests/data/sim/electricity-register-clock-meters.yaml",
			      "--seed",
			      seed,
			      "--time-scale",
			      "100",
			      NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "electricity-bench", 7, sp.port, 1000);
	wr(&r, "source.voltage", 230);
	wr(&r, "source.phase", 0);
	wr(&r, "source.current", check_register ? 50 : 0);
	wr(&r, "source.on", 1);
	wait_until(&r, "ref.voltage", 230 - 1e-6, 230 + 1e-6, 10);
	if (check_register) {
		/* the registers count the energy: 2 kWh at 11.5 kW */
		wait_until(&r, "ref.current", 50 - 1e-6, 50 + 1e-6, 10);
		double e0 = rd(&r, "ref.energy"), r0[3];
		for (int k = 1; k <= 2; k++)
			r0[k] = rdf(&r, "register", k);
		wait_until(&r, "ref.energy", e0 + 2000, 1e12, 30);
		wr(&r, "source.current", 0);
		wait_until(&r, "ref.current", 0, 1e-6, 10);
		double de = (rd(&r, "ref.energy") - e0) / 1000; /* kWh */
		double r1 = rdf(&r, "register", 1), r2 = rdf(&r, "register", 2);
		/* each shows its energy truncated to its step */
		assert_true(on_step(r1, 0.01) && on_step(r0[1], 0.01));
		assert_true(on_step(r2, 0.1) && on_step(r0[2], 0.1));
		if (fabs(r1 - r0[1] - de) > 0.01 + 1e-6 ||
		    fabs(r2 - r0[2] - 1.02 * de) > 0.1 + 1e-6)
			print_error("registers %.4f, %.4f kWh for %.4f kWh\n", r1 - r0[1],
				    r2 - r0[2], de);
		assert_true(fabs(r1 - r0[1] - de) <= 0.01 + 1e-6);
		assert_true(fabs(r2 - r0[2] - 1.02 * de) <= 0.1 + 1e-6);
		assert_true(de >= 2.0);
	}
	/* the clock calculators: a 10 s gate each, timed to 1 µs (0.0086 s/d) */
	for (int k = 1; k <= 7; k++) {
		wrf(&r, "clock_gate", k, 10);
		wrf(&r, "clock_start", k, 0);
		wrf(&r, "clock_start", k, 1);
	}
	for (int k = 1; k <= 7; k++)
		wait_pos(&r, "clock_status", k, k == 4 || k == 7 ? 3 : 2, 20);
	for (int k = 1; k <= 7; k++)
		clk[k] = rdf(&r, "clock_error", k);
	assert_true(fabs(clk[1]) <= 0.01);
	assert_true(fabs(clk[3] - 0.5) <= 0.01);
	assert_true(clk[4] == 0 && clk[7] == 0);
	assert_true(fabs(clk[5]) <= 0.31 && fabs(clk[6]) <= 0.31);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* The register (display) of each meter and the clock calculators of the electricity bench;
 * the clock deviation is seeded: the same seed gives the same clocks, another other ones. */
static void test_elec_register_clock(void **state)
{
	(void)state;
	double a[8], b[8], c[8];
	register_clock_run("7", 1, a);
	register_clock_run("7", 0, b);
	register_clock_run("8", 0, c);
	assert_true(fabs(a[5] - b[5]) <= 0.01 && fabs(a[6] - b[6]) <= 0.01);
	assert_true(fabs(a[5] - a[6]) > 0.01); /* two meters of one spec differ */
	assert_true(fabs(a[5] - c[5]) > 0.01 || fabs(a[6] - c[6]) > 0.01);
}

static void test_elec_start_creep(void **state)
{
	(void)state;
	struct simproc sp;
	const char *args[] = {"--rig",
			      "electricity-bench",
			      "--modbus-tcp",
			      "127.0.0.1:0",
			      "--meters",
			      "tests/data/sim/electricity-bench-meters.yaml",
			      "--time-scale",
			      "100",
			      NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "electricity-bench", 24, sp.port, 1000);
	for (int k = 1; k <= 6; k++)
		wrf(&r, "meter_constant", k, 100000);
	wr(&r, "source.voltage", 230);
	wr(&r, "source.current", 0.03); /* above 0.02 A (default start), below 0.05 A (pos 5) */
	wr(&r, "source.on", 1);
	wait_until(&r, "ref.current", 0.03 - 1e-9, 0.03 + 1e-9, 10);
	double a1 = rd(&r, "pos[1].meter_pulses"), a5 = rd(&r, "pos[5].meter_pulses");
	msleep(600); /* 60 s simulated: 6.9 W * 1e5 imp/kWh = 0.19 pulses/s */
	assert_true(rd(&r, "pos[1].meter_pulses") - a1 >= 5);
	assert_true(rd(&r, "pos[5].meter_pulses") - a5 == 0);
	/* no current: only the creeping meter (3600 pulses/h) moves */
	wr(&r, "source.current", 0);
	wait_until(&r, "ref.current", 0, 1e-9, 10);
	a1 = rd(&r, "pos[1].meter_pulses");
	double a6 = rd(&r, "pos[6].meter_pulses");
	double t0 = now_s();
	msleep(500);
	double b6 = rd(&r, "pos[6].meter_pulses");
	double sim_s = (now_s() - t0) * 100;
	assert_true(rd(&r, "pos[1].meter_pulses") == a1);
	/* one pulse per simulated second, +-1 for the edges and +-10 % for timing */
	assert_true(fabs((b6 - a6) - sim_s) <= 1 + 0.1 * sim_s);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
}

/* ---- bell prover over the serial line ------------------------------------------------------- */

struct line {
	struct metro_profile *p;
	int fd;
	char oterm[8], iterm[8];
	size_t otl, itl;
};

static void line_open(struct line *l, const char *dev)
{
	memset(l, 0, sizeof *l);
	struct rig r;
	memset(&r, 0, sizeof r);
	rig_open_profile(&r, "bell-prover", 6);
	l->p = r.p;
	char why[100];
	assert_int_equal(metro_line_unescape(l->p->out_terminator, l->oterm, sizeof l->oterm,
					     &l->otl, why, sizeof why),
			 0);
	assert_int_equal(metro_line_unescape(l->p->in_terminator, l->iterm, sizeof l->iterm,
					     &l->itl, why, sizeof why),
			 0);
	l->fd = open(dev, O_RDWR | O_NOCTTY);
	assert_true(l->fd >= 0);
	struct termios t;
	assert_int_equal(tcgetattr(l->fd, &t), 0);
	cfmakeraw(&t);
	tcsetattr(l->fd, TCSANOW, &t);
	tcflush(l->fd, TCIOFLUSH);
}

static void line_close(struct line *l)
{
	close(l->fd);
	metro_profile_destroy(&l->p);
}

/* One transaction with an already formatted command; returns the reply without terminator
 * (length in *n), or NULL after timeout_ms. */
static const char *line_xfer(struct line *l, const char *cmd, size_t len, size_t *n, int timeout_ms)
{
	static char rx[512];
	char tx[300];
	memcpy(tx, cmd, len);
	memcpy(tx + len, l->oterm, l->otl);
	assert_int_equal(write(l->fd, tx, len + l->otl), (ssize_t)(len + l->otl));
	size_t got = 0, frame;
	double deadline = now_s() + timeout_ms / 1000.0;
	while (now_s() < deadline) {
		if (metro_line_frame(rx, got, l->iterm, l->itl, 256, &frame) == 1) {
			*n = frame;
			return rx;
		}
		struct pollfd p = {.fd = l->fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0) {
			ssize_t k = read(l->fd, rx + got, sizeof rx - got);
			if (k > 0)
				got += (size_t)k;
		}
	}
	return NULL;
}

/* Read a channel through the profile's own templates; returns 0 or METRO_E_PROTO/TIMEOUT. */
static int line_try_read(struct line *l, const char *name, double *v, char *why, size_t wl)
{
	const struct metro_channel *c = metro_profile_channel(l->p, name);
	assert_non_null(c);
	struct metro_line_tmpl *cmd = NULL, *rep = NULL;
	assert_int_equal(metro_line_compile(c->read_cmd, METRO_LINE_OUT, &cmd, why, wl), 0);
	assert_int_equal(metro_line_compile(c->read_reply, METRO_LINE_IN, &rep, why, wl), 0);
	struct metro_line_value arg = {.type = METRO_LINE_INT, .i = c->position};
	char buf[200];
	size_t len, n;
	assert_int_equal(metro_line_format(cmd, &arg, metro_line_nvalues(cmd), buf, sizeof buf,
					   &len, why, wl),
			 0);
	const char *reply = line_xfer(l, buf, len, &n, 300);
	int rc = METRO_E_TIMEOUT;
	if (reply) {
		struct metro_line_value out[4];
		size_t nv = 4;
		rc = metro_line_parse(rep, reply, n, out, &nv, why, wl);
		if (!rc)
			*v = out[0].type == METRO_LINE_INT ? (double)out[0].i : out[0].f;
	}
	metro_line_destroy(&cmd);
	metro_line_destroy(&rep);
	return rc;
}

static double line_read(struct line *l, const char *name)
{
	double v = 0;
	char why[200] = "";
	int rc = line_try_read(l, name, &v, why, sizeof why);
	if (rc)
		print_error("%s: %d %s\n", name, rc, why);
	assert_int_equal(rc, 0);
	return v;
}

static double line_readf(struct line *l, const char *base, int k)
{
	char name[64];
	snprintf(name, sizeof name, "pos[%d].%s", k, base);
	return line_read(l, name);
}

static void line_write(struct line *l, const char *name, double v)
{
	const struct metro_channel *c = metro_profile_channel(l->p, name);
	assert_non_null(c);
	char why[200];
	struct metro_line_tmpl *cmd = NULL, *rep = NULL;
	assert_int_equal(metro_line_compile(c->write_cmd, METRO_LINE_OUT, &cmd, why, sizeof why),
			 0);
	assert_int_equal(metro_line_compile(c->write_reply, METRO_LINE_IN, &rep, why, sizeof why),
			 0);
	struct metro_line_value arg = {.type = METRO_LINE_DOUBLE, .f = v};
	char buf[200];
	size_t len, n;
	assert_int_equal(metro_line_format(cmd, &arg, 1, buf, sizeof buf, &len, why, sizeof why),
			 0);
	const char *reply = line_xfer(l, buf, len, &n, 1000);
	assert_non_null(reply);
	struct metro_line_value out[2];
	size_t nv = 2;
	int rc = metro_line_parse(rep, reply, n, out, &nv, why, sizeof why);
	if (rc)
		print_error("write %s: %s\n", name, why);
	assert_int_equal(rc, 0);
	metro_line_destroy(&cmd);
	metro_line_destroy(&rep);
}

static void test_bell_correction(void **state)
{
	(void)state;
	struct simproc sp;
	const char *args[] = {"--rig",
			      "bell-prover",
			      "--serial-line",
			      "--meters",
			      "tests/data/sim/bell-prover-meters.yaml",
			      "--time-scale",
			      "20",
			      NULL};
	sim_start(&sp, args);
	assert_true(!strncmp(sp.first, "/dev/", 5));
	struct line l;
	line_open(&l, sp.first);
	line_write(&l, "bell.reset", 0);
	line_write(&l, "bell.reset", 1);
	line_write(&l, "flow.setpoint", 3.0);
	assert_true(line_read(&l, "flow.setpoint") == 3.0);
	line_write(&l, "valve", 1);
	msleep(1000);
	line_write(&l, "valve", 0);
	assert_true(line_read(&l, "flow.actual") == 0.0);
	double vb = line_read(&l, "bell.volume");
	assert_true(vb > 5.0 && vb < 200.0);
	double pb = line_read(&l, "bell.pressure"), tb = line_read(&l, "bell.temp");
	double pa = line_read(&l, "ambient.pressure");
	assert_true(fabs(pb - 1.2) < 1e-9 && fabs(tb - 20.0) < 1e-9 && fabs(pa - 101.325) < 1e-9);
	const double err[7] = {0, 0, -1.5, 2.25, 0, 0, 0};
	for (int k = 1; k <= 6; k++) {
		double pk = line_readf(&l, "pressure", k);
		double tk = line_readf(&l, "temp", k);
		double vk = line_readf(&l, "volume", k);
		assert_true(fabs(pk - (1.2 - 0.05 * k)) < 1e-6);
		assert_true(fabs(tk - (20.0 + (k == 3 ? 0.4 : 0.1))) < 1e-6);
		if (k == 6) {
			assert_true(vk == 0.0); /* empty */
			continue;
		}
		/* the gas law seen from the meters' side, JJG 577's correction read backwards */
		double want = vb * (pa + pb) / (pa + pk) * (tk + 273.15) / (tb + 273.15) *
			      (1 + err[k] / 100);
		/* replies carry 6 decimals: 1e-6 L on each of vb and vk */
		if (fabs(vk - want) > 3e-6)
			print_error("pos %d: %.6f L, want %.6f L\n", k, vk, want);
		assert_true(fabs(vk - want) <= 3e-6);
	}
	/* an unknown command gets the error reply */
	size_t n;
	const char *reply = line_xfer(&l, "HELLO", 5, &n, 1000);
	assert_non_null(reply);
	assert_int_equal(n, 3);
	assert_memory_equal(reply, "ERR", 3);
	line_close(&l);
	assert_int_equal(sim_stop(&sp), 0);
}

/* ---- fault injection ------------------------------------------------------------------------ */

/* 200 reads with noreply=0.5: returns the client's count of timeouts. */
static int noreply_run(const char *seed, long long *logged, long long *requests)
{
	struct simproc sp;
	char *log = metro_asprintf("%s/noreply-%s.json", tmpdir, seed);
	const char *args[] = {
		"--rig",  "flow-bench", "--modbus-tcp", "127.0.0.1:0", "--faults", "noreply=0.5",
		"--seed", seed,		"--fault-log",	log,	       NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 60);
	int timeouts = 0, other = 0;
	for (int i = 0; i < 200; i++) {
		double v;
		int e = try_rd(&r, "water.temp", &v);
		if (e == ETIMEDOUT)
			timeouts++;
		else if (e)
			other++;
	}
	assert_int_equal(other, 0);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	json_t *j = fault_log(log);
	*logged = injected(j, "noreply");
	*requests = json_integer_value(json_object_get(j, "requests"));
	json_decref(j);
	free(log);
	return timeouts;
}

static void test_fault_noreply_deterministic(void **state)
{
	(void)state;
	long long logged, requests;
	int a = noreply_run("42", &logged, &requests);
	/* every dropped request is one the client timed out on, and vice versa */
	assert_int_equal(a, logged);
	assert_int_equal(requests, 200);
	/* Binomial(200, 0.5): mean 100, sd 7.1; 60..140 is beyond 5.6 sd */
	assert_true(a >= 60 && a <= 140);
	int b = noreply_run("42", &logged, &requests);
	assert_int_equal(a, b); /* same seed, same requests: same faults */
	assert_int_equal(b, logged);
}

static void test_fault_rtu_reconcile(void **state)
{
	(void)state;
	struct simproc sp;
	char *log = metro_asprintf("%s/rtu.json", tmpdir);
	const char *args[] = {"--rig",
			      "electricity-bench",
			      "--modbus-rtu",
			      "--faults",
			      "noreply=0.08,exception=0.08:4,crc=0.08,wrongunit=0.08,late=0.05:5",
			      "--seed",
			      "7",
			      "--fault-log",
			      log,
			      NULL};
	sim_start(&sp, args);
	struct rig r;
	rig_rtu(&r, "electricity-bench", 24, sp.first, 100);
	int timeouts = 0, exc = 0, crc = 0, unit = 0, ok = 0, other = 0;
	for (int i = 0; i < 300; i++) {
		double v;
		int e = try_rd(&r, "ref.constant", &v);
		if (!e) {
			ok++;
			assert_true(v == 2000000.0); /* never a substituted value */
		} else if (e == ETIMEDOUT) {
			timeouts++;
		} else if (e == EMBXSFAIL) {
			exc++;
		} else if (e == EMBBADCRC) {
			crc++;
		} else if (e == EMBBADSLAVE) {
			unit++;
		} else {
			print_error("unexpected error %s\n", modbus_strerror(e));
			other++;
		}
	}
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	json_t *j = fault_log(log);
	assert_int_equal(json_integer_value(json_object_get(j, "requests")), 300);
	assert_int_equal(other, 0);
	assert_int_equal(timeouts, injected(j, "noreply"));
	assert_int_equal(exc, injected(j, "exception"));
	assert_int_equal(crc, injected(j, "crc"));
	assert_int_equal(unit, injected(j, "wrongunit"));
	assert_true(injected(j, "late") > 0);
	assert_true(timeouts > 0 && exc > 0 && crc > 0 && unit > 0);
	assert_int_equal(ok + timeouts + exc + crc + unit, 300);
	json_decref(j);
	free(log);
}

static void test_fault_line(void **state)
{
	(void)state;
	struct simproc sp;
	char *log = metro_asprintf("%s/line.json", tmpdir);
	const char *args[] = {
		"--rig",  "bell-prover", "--serial-line", "--faults", "crc=0.3,exception=0.1:4",
		"--seed", "3",		 "--fault-log",	  log,	      NULL};
	sim_start(&sp, args);
	struct line l;
	line_open(&l, sp.first);
	int bad_csum = 0, err_reply = 0, ok = 0;
	for (int i = 0; i < 100; i++) {
		double v;
		char why[200] = "";
		int rc = line_try_read(&l, i % 2 ? "bell.pressure" : "pos[2].temp", &v, why,
				       sizeof why);
		if (!rc) {
			ok++;
			/* bell.temp drifts by 0.01 degC per simulated minute */
			assert_true(v == 1.2 || fabs(v - 20.1) < 0.01);
		} else if (strstr(why, "checksum")) {
			bad_csum++;
		} else {
			err_reply++; /* "ERR" does not match the reply template */
		}
	}
	line_close(&l);
	assert_int_equal(sim_stop(&sp), 0);
	json_t *j = fault_log(log);
	assert_int_equal(bad_csum, injected(j, "crc"));
	assert_int_equal(err_reply, injected(j, "exception"));
	assert_int_equal(ok + bad_csum + err_reply, 100);
	json_decref(j);
	free(log);
}

static void test_fault_late_stuck_lost(void **state)
{
	(void)state;
	struct simproc sp;
	char *log = metro_asprintf("%s/late.json", tmpdir);
	const char *args[] = {"--rig",
			      "flow-bench",
			      "--modbus-tcp",
			      "127.0.0.1:0",
			      "--faults",
			      "late=1:150,stuck=flow.actual:1.0",
			      "--time-scale",
			      "5",
			      "--fault-log",
			      log,
			      NULL};
	sim_start(&sp, args);
	double start = now_s(); /* the simulator's clock started a little earlier */
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 1000);
	double t0 = now_s();
	wr(&r, "flow.setpoint", 2.0);
	assert_true(now_s() - t0 >= 0.15);
	wr(&r, "flow.run", 1);
	wr(&r, "collect", 1);
	assert_true(now_s() - start < 0.9); /* the flow is rising when it gets stuck at 1.0 s */
	while (now_s() - start < 1.3)
		msleep(10);
	double a = rd(&r, "flow.actual");
	msleep(300);
	double b = rd(&r, "flow.actual");
	/* frozen below the setpoint, while the bench itself goes on collecting */
	assert_true(a == b && a > 0.0 && a < 2.0);
	double v1 = rd(&r, "ref.volume");
	msleep(200);
	assert_true(rd(&r, "ref.volume") > v1);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	json_t *j = fault_log(log);
	assert_int_equal(injected(j, "stuck"), 1);
	assert_int_equal(injected(j, "late"), json_integer_value(json_object_get(j, "requests")));
	json_decref(j);
	free(log);

	/* lost pulses: with P = 1 the meters never pulse while the reference meter runs */
	log = metro_asprintf("%s/lost.json", tmpdir);
	const char *a2[] = {"--rig",
			    "electricity-bench",
			    "--modbus-tcp",
			    "127.0.0.1:0",
			    "--faults",
			    "lostpulses=1",
			    "--time-scale",
			    "100",
			    "--fault-log",
			    log,
			    NULL};
	sim_start(&sp, a2);
	rig_tcp(&r, "electricity-bench", 24, sp.port, 1000);
	wr(&r, "pos[1].meter_constant", 10000);
	wr(&r, "source.voltage", 230);
	wr(&r, "source.current", 10);
	wr(&r, "source.on", 1);
	msleep(300);
	assert_true(rd(&r, "ref.energy") > 0);
	assert_true(rd(&r, "pos[1].meter_pulses") == 0);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	j = fault_log(log);
	assert_true(injected(j, "lostpulses") > 0);
	json_decref(j);
	free(log);
}

static int tcp_connect(int port)
{
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	modbus_t *mb = modbus_new_tcp_pi("127.0.0.1", ps);
	int rc = modbus_connect(mb);
	modbus_free(mb);
	return rc;
}

static void test_fault_disconnect(void **state)
{
	(void)state;
	struct simproc sp;
	char *log = metro_asprintf("%s/disc.json", tmpdir);
	const char *args[] = {"--rig",	     "flow-bench", "--modbus-tcp",
			      "127.0.0.1:0", "--faults",   "disconnect=0.5:1.0",
			      "--fault-log", log,	   NULL};
	sim_start(&sp, args);
	double t0 = now_s(); /* the outage schedule started just before the first line */
	struct rig r;
	rig_tcp(&r, "flow-bench", 10, sp.port, 300);
	rd(&r, "water.temp");
	while (now_s() - t0 < 0.6)
		msleep(10);
	double v;
	assert_int_not_equal(try_rd(&r, "water.temp", &v), 0); /* connection closed */
	assert_int_equal(tcp_connect(sp.port), -1);	       /* and refused */
	while (now_s() - t0 < 1.6)
		msleep(10);
	modbus_close(r.mb);
	assert_int_equal(modbus_connect(r.mb), 0); /* back, on the same port */
	rd(&r, "water.temp");
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	json_t *j = fault_log(log);
	assert_int_equal(injected(j, "disconnect"), 1);
	json_decref(j);
	free(log);
}

static void test_pty_link(void **state)
{
	(void)state;
	char *link = metro_asprintf("%s/rig.tty", tmpdir);
	assert_int_equal(symlink("/nonexistent/old", link), 0); /* a stale link is replaced */
	struct simproc sp;
	const char *args[] = {
		"--rig", "electricity-bench", "--modbus-rtu", "--pty-link", link, "--unit", "7",
		NULL};
	sim_start(&sp, args);
	char target[256];
	ssize_t n = readlink(link, target, sizeof target - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, sp.first);
	struct rig r;
	rig_rtu(&r, "electricity-bench", 24, link, 500);
	modbus_set_slave(r.mb, 7);
	assert_true(rd(&r, "ref.constant") == 2000000.0);
	/* a request for another unit on the bus gets no answer */
	modbus_set_slave(r.mb, 1);
	double v;
	assert_int_equal(try_rd(&r, "ref.constant", &v), ETIMEDOUT);
	rig_close(&r);
	assert_int_equal(sim_stop(&sp), 0);
	struct stat st;
	assert_int_equal(lstat(link, &st), -1); /* removed at exit */
	/* a regular file is never replaced */
	FILE *f = fopen(link, "w");
	fclose(f);
	const char *a2[] = {"--rig", "electricity-bench", "--modbus-rtu", "--pty-link", link, NULL};
	char *out, *err;
	assert_int_equal(sim_run(a2, &out, &err), 1);
	assert_non_null(strstr(err, "is not a symbolic link"));
	free(out);
	free(err);
	unlink(link);
	free(link);
}

static int setup(void **state)
{
	(void)state;
	tu_srcdir();
	tmpdir = tu_tmpdir();
	return 0;
}

static int reap(void **state)
{
	(void)state;
	while (nlive) {
		pid_t pid = live[--nlive];
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(tmpdir);
	free(tmpdir);
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_describe_json, reap),
		cmocka_unit_test_teardown(test_cli_errors, reap),
		cmocka_unit_test_teardown(test_flow_meter_error, reap),
		cmocka_unit_test_teardown(test_meter_spread, reap),
		cmocka_unit_test_teardown(test_modbus_exceptions, reap),
		cmocka_unit_test_teardown(test_elec_calculators, reap),
		cmocka_unit_test_teardown(test_elec_start_creep, reap),
		cmocka_unit_test_teardown(test_elec_register_clock, reap),
		cmocka_unit_test_teardown(test_bell_correction, reap),
		cmocka_unit_test_teardown(test_fault_noreply_deterministic, reap),
		cmocka_unit_test_teardown(test_fault_rtu_reconcile, reap),
		cmocka_unit_test_teardown(test_fault_line, reap),
		cmocka_unit_test_teardown(test_fault_late_stuck_lost, reap),
		cmocka_unit_test_teardown(test_fault_disconnect, reap),
		cmocka_unit_test_teardown(test_pty_link, reap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
