/* Integration test of the daemon's lifecycle with a real process and real sockets:
 * start build/.../metrod on a configuration with free ports, wait for `ping`, reload a broken
 * configuration with SIGHUP (the daemon keeps the old one and says why), reload a valid
 * changed one (applied), then SIGTERM (exit 0 within the unit's TimeoutStopSec).  Also
 * --check-config, and --version against sha256sum(1): the digest of the executable, of every
 * procedure file of the configured directory (a copy of procedures/ with one file edited) and
 * of every configured rig's profile (one rig on the repository's profile, one on an edited
 * copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "testutil.h"
#include "util.h"

struct fixture {
	char *dir, *cfg, *log, *metrod, *endpoint;
	char *procdir; /* the configuration's procedure directory; NULL: the repository's */
	char *profile; /* the profile of rig-2 and later; NULL: the repository's flow-bench */
	int cport, pport;
	pid_t pid;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The SHA-256 of a file as sha256sum(1) computes it (coreutils, not the project's code):
 * 64 lowercase hex digits. */
static void sha256sum(const char *path, char hex[65])
{
	char *cmd = metro_asprintf("sha256sum -- '%s'", path);
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	char line[4096] = "";
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	for (int i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)line[i]) && !isupper((unsigned char)line[i]));
	assert_true(line[64] == ' ');
	memcpy(hex, line, 64);
	hex[64] = '\0';
}

static char *config_text(struct fixture *fx, int nrigs)
{
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	char *procdir =
		fx->procdir ? metro_strdup(fx->procdir) : metro_asprintf("%s/procedures", cwd);
	char *rigs = metro_strdup("");
	char *repo_profile = metro_asprintf("%s/config/profiles/flow-bench.yaml", cwd);
	for (int i = 0; i < nrigs; i++) {
		char *r = metro_asprintf(
			"%s  - id: rig-%d\n    kind: flow-bench\n    driver: modbus-tcp\n"
			"    connection: {host: 127.0.0.1, port: %d}\n"
			"    profile: %s\n    positions: 4\n"
			"    standards: [std-1]\n",
			rigs, i + 1, 1502 + i, i && fx->profile ? fx->profile : repo_profile);
		free(rigs);
		rigs = r;
	}
	char *t = metro_asprintf(
		"station: {id: it-lab, name: Integration, institution: Test, authorisation: A-1}\n"
		"control: {endpoint: \"tcp://127.0.0.1:%d\"}\n"
		"publish: {endpoint: \"tcp://127.0.0.1:%d\"}\n"
		"store: {path: %s/records.db}\n"
		"procedures: [%s]\n"
		"standards:\n"
		"  - {id: std-1, description: Bench, certificate: C-1, issuer: Test,\n"
		"     calibrated: 2026-01-01, due: 2027-01-01, uncertainty: {value: 0.2, k: 2}}\n"
		"rigs:\n%s",
		fx->cport, fx->pport, fx->dir, procdir, rigs);
	free(procdir);
	free(rigs);
	free(repo_profile);
	return t;
}

static json_t *request(const char *endpoint, const char *cmd, int timeout_ms)
{
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	zmq_connect(s, endpoint);
	char *req = metro_asprintf("{\"id\":7,\"cmd\":\"%s\"}", cmd);
	zmq_send(s, req, strlen(req), 0);
	free(req);
	json_t *reply = NULL;
	zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&it, 1, timeout_ms) == 1) {
		char buf[65536];
		int n = zmq_recv(s, buf, sizeof buf - 1, 0);
		if (n > 0)
			reply = json_loadb(buf, (size_t)n, 0, NULL);
	}
	zmq_close(s);
	zmq_ctx_term(ctx);
	return reply;
}

static json_t *wait_ping(const char *endpoint, int total_ms)
{
	for (int waited = 0; waited < total_ms; waited += 200) {
		json_t *r = request(endpoint, "ping", 200);
		if (r)
			return r;
	}
	return NULL;
}

static pid_t spawn(const char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	return pid;
}

/* Wait for a child up to ms; returns its raw status or -1 on timeout. */
static int wait_child(pid_t pid, int ms)
{
	for (int waited = 0; waited <= ms; waited += 10) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

static int setup(void **state)
{
	struct fixture *fx = metro_calloc(1, sizeof *fx);
	fx->dir = tu_tmpdir();
	fx->cfg = metro_asprintf("%s/metrod.yaml", fx->dir);
	fx->log = metro_asprintf("%s/metrod.log", fx->dir);
	fx->metrod = tu_build_path("metrod");
	fx->cport = tu_free_port();
	do
		fx->pport = tu_free_port();
	while (fx->pport == fx->cport);
	fx->endpoint = metro_asprintf("tcp://127.0.0.1:%d", fx->cport);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (fx->pid > 0 && wait_child(fx->pid, 0) == -1) {
		kill(fx->pid, SIGKILL);
		waitpid(fx->pid, NULL, 0);
	}
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->cfg);
	free(fx->log);
	free(fx->metrod);
	free(fx->endpoint);
	free(fx->procdir);
	free(fx->profile);
	free(fx);
	return 0;
}

static void test_lifecycle(void **state)
{
	struct fixture *fx = *state;
	char *text = config_text(fx, 2);
	write_file(fx->cfg, text);
	free(text);
	const char *argv[] = {fx->metrod, "-c", fx->cfg, NULL};
	fx->pid = spawn(argv, fx->log);

	json_t *r = wait_ping(fx->endpoint, 10000);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_true(json_object_get(r, "pong")));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	json_decref(r);

	r = request(fx->endpoint, "status", 2000);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "config_generation")), 1);
	/* the running daemon identifies its executable */
	char exe_hex[65];
	sha256sum(fx->metrod, exe_hex);
	assert_string_equal(json_string_value(json_object_get(r, "executable_sha256")), exe_hex);
	assert_int_equal(json_array_size(json_object_get(r, "rigs")), 2);
	json_decref(r);

	/* A broken configuration in place + SIGHUP: refused, the old one keeps running. */
	write_file(fx->cfg, "station: {id: it-lab}\nrigs: 5\nbogus: 1\n");
	assert_int_equal(kill(fx->pid, SIGHUP), 0);
	json_t *st = NULL;
	for (int i = 0; i < 50; i++) {
		usleep(100000);
		st = request(fx->endpoint, "status", 1000);
		if (st && json_integer_value(json_object_get(st, "reloads_failed")) == 1)
			break;
		json_decref(st);
		st = NULL;
	}
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(st, "config_generation")), 1);
	assert_int_equal(json_array_size(json_object_get(st, "rigs")), 2);
	const char *why = json_string_value(json_object_get(st, "last_reload_error"));
	assert_non_null(why);
	char *want = metro_asprintf("%s:3:1: unknown key 'bogus'", fx->cfg);
	assert_memory_equal(why, want, strlen(want));
	free(want);
	json_decref(st);
	/* ... and the log says why, with every problem at FILE:LINE:COL. */
	char *log = NULL;
	assert_int_equal(metro_read_file(fx->log, 1 << 20, &log, NULL), 0);
	char *line = metro_asprintf("<3>%s:2:7: rigs: expected a list, found a scalar", fx->cfg);
	assert_non_null(strstr(log, line));
	free(line);
	line = metro_asprintf("<3>%s:1:10: missing required key 'station.name'", fx->cfg);
	assert_non_null(strstr(log, line));
	free(line);
	assert_non_null(strstr(log, "configuration reload failed"));
	free(log);

	/* A valid changed configuration: applied, one rig fewer. */
	text = config_text(fx, 1);
	write_file(fx->cfg, text);
	free(text);
	assert_int_equal(kill(fx->pid, SIGHUP), 0);
	st = NULL;
	for (int i = 0; i < 50; i++) {
		usleep(100000);
		st = request(fx->endpoint, "status", 1000);
		if (st && json_integer_value(json_object_get(st, "config_generation")) == 2)
			break;
		json_decref(st);
		st = NULL;
	}
	assert_non_null(st);
	assert_int_equal(json_array_size(json_object_get(st, "rigs")), 1);
	assert_null(json_object_get(st, "last_reload_error"));
	json_decref(st);

	/* SIGTERM: graceful stop, exit 0.  The bound is not a speed (that is printed): it is
	 * systemd/metrod.service's TimeoutStopSec=10s, after which systemd kills the daemon before
	 * its rigs are confirmed safe. */
	uint64_t t0 = metro_now_ns();
	assert_int_equal(kill(fx->pid, SIGTERM), 0);
	int status = wait_child(fx->pid, 10000);
	uint64_t dt_ms = (metro_now_ns() - t0) / 1000000;
	printf("SIGTERM to exit: %llu ms\n", (unsigned long long)dt_ms);
	assert_int_not_equal(status, -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fx->pid = 0;
}

static void test_check_config_and_version(void **state)
{
	struct fixture *fx = *state;
	write_file(fx->cfg, "station:\n  id: x\n  nmae: y\n");
	const char *argv[] = {fx->metrod, "--check-config", fx->cfg, NULL};
	pid_t pid = spawn(argv, fx->log);
	int st = wait_child(pid, 10000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	char *log = NULL;
	assert_int_equal(metro_read_file(fx->log, 1 << 20, &log, NULL), 0);
	char *want = metro_asprintf("%s:3:3: unknown key 'station.nmae'", fx->cfg);
	assert_non_null(strstr(log, want));
	free(want);
	want = metro_asprintf("%s:1:1: missing required key 'control'", fx->cfg);
	assert_non_null(strstr(log, want));
	free(want);
	free(log);

	/* --version: the configured procedure directory is a copy of procedures/ with one file
	 * edited (so its digest is not the repository file's) and a file that is no procedure. */
	fx->procdir = metro_asprintf("%s/procs", fx->dir);
	assert_int_equal(mkdir(fx->procdir, 0755), 0);
	char **src = NULL;
	size_t nsrc = tu_list_dir("procedures", ".yaml", &src);
	assert_true(nsrc >= 6);
	char **copies = metro_calloc(nsrc, sizeof *copies);
	for (size_t i = 0; i < nsrc; i++) {
		char *data = NULL;
		assert_int_equal(metro_read_file(src[i], 1 << 22, &data, NULL), 0);
		copies[i] = metro_asprintf("%s/%s", fx->procdir, strrchr(src[i], '/') + 1);
		char *edited =
			metro_asprintf("%s%s", data, i == 0 ? "# edited for test_lifecycle\n" : "");
		write_file(copies[i], edited);
		free(edited);
		free(data);
	}
	char *readme = metro_asprintf("%s/README.md", fx->procdir);
	write_file(readme, "not a procedure\n");
	free(readme);
	char repo_hex[65], copy_hex[65];
	sha256sum(src[0], repo_hex);
	sha256sum(copies[0], copy_hex);
	assert_string_not_equal(repo_hex, copy_hex);

	/* Two rigs: rig-1 on the repository's profile, rig-2 on a copy with one more comment. */
	char cwd[PATH_MAX], *pdata = NULL;
	assert_non_null(getcwd(cwd, sizeof cwd));
	char *repo_profile = metro_asprintf("%s/config/profiles/flow-bench.yaml", cwd);
	assert_int_equal(metro_read_file(repo_profile, 1 << 22, &pdata, NULL), 0);
	fx->profile = metro_asprintf("%s/bench-copy.yaml", fx->dir);
	char *pedited = metro_asprintf("%s# edited for test_lifecycle\n", pdata);
	write_file(fx->profile, pedited);
	free(pedited);
	free(pdata);
	char prof_hex[2][65];
	sha256sum(repo_profile, prof_hex[0]);
	sha256sum(fx->profile, prof_hex[1]);
	assert_string_not_equal(prof_hex[0], prof_hex[1]);
	const char *prof_path[2] = {repo_profile, fx->profile};
	char *text = config_text(fx, 2);
	write_file(fx->cfg, text);
	free(text);
	char *out = metro_asprintf("%s/version.out", fx->dir);
	const char *vargv[] = {fx->metrod, "--version", "-c", fx->cfg, NULL};
	pid = spawn(vargv, out);
	st = wait_child(pid, 10000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(metro_read_file(out, 1 << 20, &log, NULL), 0);
	free(out);
	assert_non_null(strstr(log, "metrod " METRO_VERSION "\n"));

	/* "  executable HEX  PATH", "  procedure  HEX  PATH" and "  profile    HEX  PATH  (rig R)"
	 * lines */
	char exe_real[PATH_MAX], exe_hex[65];
	assert_non_null(realpath(fx->metrod, exe_real));
	sha256sum(exe_real, exe_hex);
	int nexe = 0, prof_seen[2] = {0, 0};
	size_t nproc = 0, nprof = 0;
	int *seen = metro_calloc(nsrc, sizeof *seen);
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		char kind[16], hex[80], path[PATH_MAX], rig[32];
		int fields = sscanf(line, " %15s %79s %4095s (rig %31[^)])", kind, hex, path, rig);
		if (fields < 3)
			continue;
		if (!strcmp(kind, "profile")) {
			nprof++;
			assert_int_equal(fields, 4);
			int k = !strcmp(path, prof_path[0])   ? 0
				: !strcmp(path, prof_path[1]) ? 1
							      : -1;
			if (k < 0)
				fail_msg("--version lists profile '%s', not a configured one",
					 path);
			prof_seen[k]++;
			assert_string_equal(hex, prof_hex[k]);
			assert_string_equal(rig, k ? "rig-2" : "rig-1");
			continue;
		}
		if (!strcmp(kind, "executable")) {
			nexe++;
			assert_string_equal(path, exe_real);
			assert_string_equal(hex, exe_hex);
		} else if (!strcmp(kind, "procedure")) {
			nproc++;
			char digest[65];
			sha256sum(path, digest);
			assert_string_equal(hex, digest);
			size_t k = 0;
			while (k < nsrc && strcmp(path, copies[k]) != 0)
				k++;
			if (k == nsrc)
				fail_msg("--version lists '%s', not a procedure file of %s", path,
					 fx->procdir);
			seen[k]++;
		}
	}
	assert_int_equal(nexe, 1);
	assert_int_equal(nproc, nsrc);
	assert_int_equal(nprof, 2);
	assert_int_equal(prof_seen[0], 1);
	assert_int_equal(prof_seen[1], 1);
	free(repo_profile);
	for (size_t k = 0; k < nsrc; k++)
		if (seen[k] != 1)
			fail_msg("%s listed %d times by --version", copies[k], seen[k]);
	free(seen);
	free(log);
	tu_free_list(copies, nsrc);
	tu_free_list(src, nsrc);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_config_and_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
