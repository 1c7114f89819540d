/* The driver plugin mechanism end to end: a plugin with a mismatched ABI is refused with a clear
 * reason; the example plugin (scpi-tcp) loads, is found by name, and reads and writes a real
 * SCPI-style instrument (a small TCP server in this test) through the device layer, with the
 * write read back; a configuration naming the plugin validates (the plugin loaded by the
 * configuration itself, before the rig that uses it is checked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "device.h"
#include "driver.h"
#include "error.h"
#include "testutil.h"
#include "util.h"

/* A line-based instrument: "*IDN?" answers an identity, "SOUR:FLOW <v>" sets the flow,
 * "SOUR:FLOW?" returns it, other queries "X?" return 20.5 + the number of queries so far. */
struct instrument {
	int listen_fd;
	int port;
	double flow;
	int queries;
	int garbage_next; /* answer the next query with a malformed reply */
};

static void *serve(void *arg)
{
	struct instrument *in = arg;
	int fd = accept(in->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	char buf[512];
	size_t len = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + len, sizeof buf - len - 1, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			char reply[128] = "";
			if (!strcmp(buf, "*IDN?"))
				snprintf(reply, sizeof reply, "metrod-test,SCPI-BELL,0001,1.0\n");
			else if (!strncmp(buf, "SOUR:FLOW ", 10))
				in->flow = strtod(buf + 10, NULL);
			else if (!strcmp(buf, "SOUR:FLOW?"))
				snprintf(reply, sizeof reply, "%.4f\n", in->flow);
			else if (in->garbage_next) {
				in->garbage_next = 0;
				snprintf(reply, sizeof reply, "12.5abc\n");
			} else if (buf[strlen(buf) - 1] == '?')
				snprintf(reply, sizeof reply, "%.3f\n", 20.5 + in->queries++);
			if (reply[0] && send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
				break;
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, len - used);
			len -= used;
		}
	}
	close(fd);
	return NULL;
}

static void test_bad_abi_refused(void **state)
{
	(void)state;
	char *path = tu_build_path("plugins/bad-abi.so");
	char why[300];
	assert_int_equal(metro_driver_load_plugin(path, why, sizeof why), METRO_E_INVAL);
	char want[128];
	snprintf(want, sizeof want, "driver ABI version %u, metrod needs %u: rebuild the plugin",
		 METRO_DRIVER_ABI_VERSION + 100, METRO_DRIVER_ABI_VERSION);
	assert_string_equal(why, want);
	free(path);
	assert_int_equal(metro_driver_load_plugin("/nonexistent/x.so", why, sizeof why),
			 METRO_E_NOTFOUND);
	assert_non_null(strstr(why, "cannot load"));
}

static void test_plugin_reads_and_writes(void **state)
{
	(void)state;
	char *path = tu_build_path("plugins/scpi-tcp.so");
	char why[300] = "";
	int rc = metro_driver_load_plugin(path, why, sizeof why);
	if (rc)
		fprintf(stderr, "%s\n", why);
	assert_int_equal(rc, 0);
	/* Loading the same object again (a configuration reload) is harmless. */
	assert_int_equal(metro_driver_load_plugin(path, why, sizeof why), 0);
	free(path);
	const struct metro_driver *drv = metro_driver_find("scpi-tcp");
	assert_non_null(drv);
	assert_string_equal(drv->transport, "serial-line");

	struct instrument in = {0};
	in.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(in.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(in.listen_fd, 1), 0);
	getsockname(in.listen_fd, (struct sockaddr *)&a, &alen);
	in.port = ntohs(a.sin_port);
	pthread_t th;
	pthread_create(&th, NULL, serve, &in);

	struct metro_diag d;
	struct metro_profile *p;
	metro_diag_init(&d);
	assert_int_equal(metro_profile_load("tests/data/profiles/scpi-bell.yaml", 2, &d, &p), 0);
	metro_diag_free(&d);
	struct metro_connection_conf cc = {
		.host = "127.0.0.1", .port = in.port, .unit = 1, .timeout_ms = 500, .retries = 0};
	struct metro_driver_conn conn = {"plugin-test", &cc, p};
	struct metro_device *dev;
	assert_int_equal(metro_device_new(drv, &conn, &dev), 0);
	assert_int_equal(metro_device_connect(dev), 0);
	assert_string_equal(metro_device_describe(dev),
			    (snprintf(why, sizeof why, "scpi-tcp 127.0.0.1:%d", in.port), why));

	const struct metro_channel *chs[3] = {metro_profile_channel(p, "bell.volume"),
					      metro_profile_pos_channel(p, "temp", 2),
					      metro_profile_channel(p, "bell.temp")};
	double v[3];
	assert_int_equal(metro_device_read(dev, chs, 3, v), 0);
	assert_true(v[0] == 20.5 && v[1] == 21.5 && v[2] == 22.5);

	/* Write with read-back: the instrument stores 1.2346 (4 decimals in the template). */
	const struct metro_channel *fs = metro_profile_channel(p, "flow.setpoint");
	assert_int_equal(metro_device_write(dev, fs, 1.25), 0);
	assert_true(in.flow == 1.25);
	/* A malformed reply is an error, never a value. */
	in.garbage_next = 1;
	double x = -1;
	assert_int_equal(metro_device_read1(dev, chs[0], &x), METRO_E_PROTO);
	assert_true(x == -1);
	assert_non_null(strstr(metro_device_last_error(dev), "reply '12.5abc'"));
	struct metro_device_stats st;
	metro_device_stats(dev, &st);
	assert_int_equal(st.proto_errors, 1);
	assert_true(st.ok >= 3);

	metro_device_destroy(&dev);
	metro_profile_destroy(&p);
	pthread_join(th, NULL);
	close(in.listen_fd);
}

/* Runs first: the configuration itself must load the plugin before it checks the rig that
 * names its driver (driver_plugins is validated before rigs), so the plugin must not be
 * registered yet by an earlier test in this process. */
static void test_config_names_plugin(void **state)
{
	(void)state;
	assert_null(metro_driver_find("scpi-tcp"));
	char *dir = tu_tmpdir();
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	char *so = tu_build_path("plugins/scpi-tcp.so");
	char *text =
		metro_asprintf("station: {id: p, name: P, institution: I, authorisation: A}\n"
			       "control: {endpoint: \"tcp://127.0.0.1:1\"}\npublish: {endpoint: "
			       "\"tcp://127.0.0.1:2\"}\n"
			       "store: {path: x.db}\nprocedures: [%s/procedures]\n"
			       "driver_plugins: [%s/%s]\n"
			       "standards:\n  - {id: s, description: d, certificate: c, issuer: i,"
			       " calibrated: 2026-01-01, due: 2027-01-01, class: \"0.1\"}\n"
			       "rigs:\n  - {id: bell, kind: bell-prover, driver: scpi-tcp,"
			       " connection: {host: 127.0.0.1, port: 5025}, profile: "
			       "%s/tests/data/profiles/scpi-bell.yaml,"
			       " positions: 3, standards: [s]}\n",
			       cwd, cwd, so, cwd);
	char *cfg = metro_asprintf("%s/c.yaml", dir);
	FILE *f = fopen(cfg, "w");
	fputs(text, f);
	fclose(f);
	struct metro_diag d;
	struct metro_config *c;
	metro_diag_init(&d);
	int rc = metro_config_load(cfg, &d, &c);
	metro_diag_print(&d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(c->ndriver_plugins, 1);
	assert_int_equal(c->rigs[0].profile_data->nchannels, 6 + 3 * 3);
	metro_config_destroy(&c);
	metro_diag_free(&d);
	tu_rmtree(dir);
	free(dir);
	free(so);
	free(text);
	free(cfg);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_names_plugin),
		cmocka_unit_test(test_bad_abi_refused),
		cmocka_unit_test(test_plugin_reads_and_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
