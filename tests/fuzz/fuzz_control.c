/* fuzz_control — the control request parser and dispatcher: any bytes as a request to a real
 * server (a record store in a temporary directory, the procedure library, one flow bench that
 * is never reached).  Property: every request gets a reply object with "ok", and a refusal
 * carries an error code and message.  Odd-length inputs come from an unknown CURVE client
 * (observer role), even-length ones from a local client (every right). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "fuzz.h"
#include "server.h"

static struct metro_server *server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char dir[] = "/tmp/metro-fuzz-control-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	const char *src = getenv("METRO_SRCDIR") ? getenv("METRO_SRCDIR") : ".";
	char *yaml;
	int n = asprintf(
		&yaml,
		"station: {id: fuzz-lab, name: Fuzz, institution: Fuzz, authorisation: F-1}\n"
		"control: {endpoint: \"ipc://%s/control\"}\n"
		"publish: {endpoint: \"ipc://%s/publish\"}\n"
		"store: {path: %s/records.db}\n"
		"procedures: [%s/procedures]\n"
		"standards:\n"
		"  - {id: ws, description: Flow bench, certificate: C-1, issuer: T, "
		"calibrated: 2026-01-01, due: 2099-01-01, uncertainty: {value: 0.2, k: 2}}\n"
		"rigs:\n"
		"  - {id: water-1, kind: flow-bench, driver: modbus-tcp, connection: {host: "
		"127.0.0.1, port: 1}, profile: %s/config/profiles/flow-bench.yaml, "
		"positions: 10, standards: [ws]}\n",
		dir, dir, dir, src, src);
	struct metro_diag d;
	struct metro_config *cfg = NULL;
	metro_diag_init(&d);
	if (n < 0 ||
	    metro_config_load_buffer("fuzz-control.yaml", (const unsigned char *)yaml, (size_t)n,
				     &d, &cfg) ||
	    metro_server_new(cfg, 0, &server)) {
		metro_diag_print(&d, stderr);
		fprintf(stderr, "fuzz_control: cannot set up the server (run from the source tree "
				"or set METRO_SRCDIR)\n");
		exit(1);
	}
	metro_diag_free(&d);
	free(yaml);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct metro_identity local = {"unauthenticated", NULL, METRO_ROLE_MANAGER,
						    "none"},
					   observer = {"a-client", NULL, METRO_ROLE_OBSERVER,
						       "curve"};
	json_t *reply = metro_control_handle(server, (const char *)data, size,
					     size % 2 ? &observer : &local, "\0\x80\0\0\x29", 5);
	FUZZ_ASSERT(json_is_object(reply));
	json_t *ok = json_object_get(reply, "ok");
	FUZZ_ASSERT(json_is_boolean(ok));
	if (!json_is_true(ok)) {
		json_t *e = json_object_get(reply, "error");
		FUZZ_ASSERT(json_is_string(json_object_get(e, "code")));
		FUZZ_ASSERT(json_is_string(json_object_get(e, "message")));
	}
	json_decref(reply);
	return 0;
}
