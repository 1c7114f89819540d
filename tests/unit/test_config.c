/* Unit tests of the YAML accessors and the configuration validator, including the bad-input
 * corpus in tests/data/bad/: every file there must be rejected with exactly the messages
 * written at its end ("# expect: LINE:COL: message") or in NAME.expect beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "testutil.h"
#include "util.h"
#include "yfile.h"

/* A refused configuration must leave nothing behind (*out NULL). */
static int load_config(const char *path, struct metro_diag *d)
{
	struct metro_config *c = (struct metro_config *)1;
	int err = metro_config_load(path, d, &c);
	if (!err) {
		metro_config_destroy(&c);
		return METRO_OK;
	}
	return c ? METRO_E_STATE : err; /* refused, yet something left behind */
}

static void test_bad_corpus(void **state)
{
	(void)state;
	/* The issue asks for at least 40; losing files silently would weaken the test. */
	assert_int_equal(tu_check_corpus("tests/data/bad", 40, load_config), 0);
}

static void test_good_corpus(void **state)
{
	(void)state;
	char **files;
	size_t n = tu_list_dir("tests/data/good", ".yaml", &files);
	assert_true(n >= 1);
	files = metro_realloc(files, (n + 1) * sizeof *files);
	files[n++] = metro_strdup("config/demo.yaml");
	for (size_t i = 0; i < n; i++) {
		struct metro_diag diag;
		struct metro_config *c = NULL;
		metro_diag_init(&diag);
		int err = metro_config_load(files[i], &diag, &c);
		if (err)
			metro_diag_print(&diag, stderr);
		assert_int_equal(err, 0);
		assert_int_equal(metro_diag_count(&diag), 0);
		assert_non_null(c);
		assert_true(c->nrigs >= 1);
		metro_config_destroy(&c);
		assert_null(c);
		metro_diag_free(&diag);
	}
	tu_free_list(files, n);
}

static void test_demo_values(void **state)
{
	(void)state;
	struct metro_diag diag;
	struct metro_config *c;
	metro_diag_init(&diag);
	assert_int_equal(metro_config_load("config/demo.yaml", &diag, &c), 0);
	assert_string_equal(c->station.id, "demo-lab");
	assert_string_equal(c->control_endpoint, "tcp://127.0.0.1:7710");
	assert_string_equal(c->publish_endpoint, "tcp://127.0.0.1:7711");
	assert_string_equal(c->store_path, "config/../var/demo/records.db");
	assert_int_equal(c->nrigs, 3);
	const struct metro_rig_conf *r = metro_config_rig(c, "elec-1");
	assert_non_null(r);
	assert_int_equal(r->kind, METRO_RIG_ELECTRICITY_BENCH);
	assert_int_equal(r->positions, 24);
	assert_int_equal(r->conn.baud, 115200);
	assert_int_equal(r->conn.parity, 'N');
	assert_int_equal(r->conn.timeout_ms, 500); /* default */
	assert_null(metro_config_rig(c, "nope"));
	const struct metro_standard_conf *s = metro_config_standard(c, "es-ref-01");
	assert_non_null(s);
	assert_string_equal(s->accuracy_class, "0.05");
	assert_int_equal(s->due.year, 2029);
	assert_int_equal(s->due.month, 5);
	assert_int_equal(s->due.day, 17);
	s = metro_config_standard(c, "ws-flow-01");
	assert_true(s->uncertainty_pct == 0.2 && s->k == 2);
	/* A deep copy compares equal, and differs once a connection value changes. */
	struct metro_rig_conf *d = metro_rig_conf_dup(r);
	assert_int_equal(metro_rig_conf_differs(r, d), 0);
	d->conn.baud = 9600;
	assert_int_equal(metro_rig_conf_differs(r, d), 1);
	metro_rig_conf_free(&d);
	assert_null(d);
	metro_config_destroy(&c);
	metro_diag_free(&diag);
}

/* Load a YAML snippet, return the value node of key "v" at the top level. */
static yaml_node_t *snippet(const char *text, struct metro_diag *diag, struct metro_yfile **f)
{
	metro_diag_init(diag);
	assert_int_equal(metro_yfile_load_buffer("snip.yaml", (const unsigned char *)text,
						 strlen(text), diag, f),
			 0);
	static const struct metro_yfield fields[] = {{"v", 1}};
	yaml_node_t *v[1];
	assert_int_equal(metro_y_map(*f, metro_y_root(*f), "", fields, 1, v), 0);
	return v[0];
}

static void test_accessors(void **state)
{
	(void)state;
	struct metro_diag d;
	struct metro_yfile *f;
	long l = 7;
	double x = 0;
	int b = -1, e = -1;
	struct metro_date dt;
	char *s = NULL;

	yaml_node_t *n = snippet("v: 42\n", &d, &f);
	assert_int_equal(metro_y_long(f, n, "v", 0, 100, &l), 0);
	assert_int_equal(l, 42);
	assert_int_equal(metro_y_long(f, n, "v", 0, 41, &l), METRO_E_INVAL);
	assert_int_equal(l, 42); /* unchanged on error */
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "snip.yaml:1:4: v: 42 is out of range [0, 41]");
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: 99999999999999999999999\n", &d, &f);
	assert_int_equal(metro_y_long(f, n, "v", 0, 100, &l), METRO_E_INVAL);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: -1.5e3\n", &d, &f);
	assert_int_equal(metro_y_double(f, n, "v", -1e4, 0, &x), 0);
	assert_true(x == -1500.0);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: 1e999\n", &d, &f);
	assert_int_equal(metro_y_double(f, n, "v", -1e4, 1e4, &x), METRO_E_INVAL);
	assert_string_equal(d.msgs[0], "snip.yaml:1:4: v: 1e999 is not a finite number");
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: false\n", &d, &f);
	assert_int_equal(metro_y_bool(f, n, "v", &b), 0);
	assert_int_equal(b, 0);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: \"true\"\n", &d, &f); /* quoted: a string, not a boolean */
	assert_int_equal(metro_y_bool(f, n, "v", &b), METRO_E_INVAL);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	static const char *const choices[] = {"a", "bb", "ccc"};
	n = snippet("v: bb\n", &d, &f);
	assert_int_equal(metro_y_enum(f, n, "v", choices, 3, &e), 0);
	assert_int_equal(e, 1);
	assert_int_equal(metro_y_str(f, n, "v", 1, &s), METRO_E_INVAL); /* too long */
	assert_int_equal(metro_y_str(f, n, "v", 2, &s), 0);
	assert_string_equal(s, "bb");
	free(s);
	s = NULL;
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: [1, 2]\n", &d, &f);
	assert_int_equal(metro_y_str(f, n, "v", 10, &s), METRO_E_INVAL);
	assert_string_equal(d.msgs[0], "snip.yaml:1:4: v: expected a string, found a list");
	assert_int_equal(metro_y_seq(f, n, "v"), 2);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v:\n", &d, &f);
	assert_true(metro_y_is_null(n));
	assert_int_equal(metro_y_ident(f, n, "v", &s), METRO_E_INVAL);
	assert_string_equal(d.msgs[0], "snip.yaml:1:3: v: expected an identifier, found nothing");
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	n = snippet("v: 2024-02-29\n", &d, &f);
	assert_int_equal(metro_y_date(f, n, "v", &dt), 0);
	assert_int_equal(dt.day, 29);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);
	assert_int_equal(metro_date_parse("2023-02-29", &dt), METRO_E_INVAL);
	assert_int_equal(metro_date_parse("2100-02-29", &dt), METRO_E_INVAL);
	assert_int_equal(metro_date_parse("2000-02-29", &dt), 0);
	assert_int_equal(metro_date_parse("2026-1-01", &dt), METRO_E_INVAL);
	struct metro_date epoch = {1970, 1, 1}, y2k = {2000, 3, 1};
	assert_int_equal(metro_date_days(&epoch), 0);
	assert_int_equal(metro_date_days(&y2k), 11017);
	assert_true(metro_date_cmp(&epoch, &y2k) < 0);
}

static void test_endpoints(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_int_equal(metro_endpoint_check("tcp://127.0.0.1:7710", &why), 0);
	assert_int_equal(metro_endpoint_check("tcp://[::1]:7710", &why), 0);
	assert_int_equal(metro_endpoint_check("ipc:///run/metrod/control", &why), 0);
	assert_int_equal(metro_endpoint_check("ipc://", &why), METRO_E_INVAL);
	assert_int_equal(metro_endpoint_check("tcp://host", &why), METRO_E_INVAL);
	assert_int_equal(metro_endpoint_check("tcp://host:0", &why), METRO_E_INVAL);
	assert_int_equal(metro_endpoint_check("tcp://host:12ab", &why), METRO_E_INVAL);
	assert_int_equal(metro_endpoint_check("udp://host:1", &why), METRO_E_INVAL);
	assert_non_null(why);
}

static void test_buffer_limits(void **state)
{
	(void)state;
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	/* Overlong UTF-8 encoding of '/', and a lone surrogate: both refused with a position. */
	const unsigned char overlong[] = "a: \xc0\xaf\n";
	assert_int_equal(metro_yfile_load_buffer("x", overlong, sizeof overlong - 1, &d, &f),
			 METRO_E_INVAL);
	assert_string_equal(d.msgs[0], "x:1:4: not valid UTF-8 (byte 0xc0 at offset 3)");
	const unsigned char surrogate[] = "a: 1\nb: \xed\xa0\x80\n";
	assert_int_equal(metro_yfile_load_buffer("x", surrogate, sizeof surrogate - 1, &d, &f),
			 METRO_E_INVAL);
	assert_string_equal(d.msgs[1], "x:2:4: not valid UTF-8 (byte 0xed at offset 8)");
	/* Multi-byte characters count as one column. */
	const unsigned char cjk[] = "a: 水表\nb: \xff\n";
	assert_int_equal(metro_yfile_load_buffer("x", cjk, sizeof cjk - 1, &d, &f), METRO_E_INVAL);
	assert_string_equal(d.msgs[2], "x:2:4: not valid UTF-8 (byte 0xff at offset 13)");
	assert_null(f);
	metro_diag_free(&d);
	/* The diagnostics list is capped. */
	for (int i = 0; i < METRO_DIAG_MAX + 5; i++)
		metro_diag_add(&d, "f", 1, 1, "m%d", i);
	assert_int_equal(d.n, METRO_DIAG_MAX);
	assert_int_equal(metro_diag_count(&d), METRO_DIAG_MAX + 5);
	metro_diag_free(&d);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_corpus),  cmocka_unit_test(test_good_corpus),
		cmocka_unit_test(test_demo_values), cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_endpoints),   cmocka_unit_test(test_buffer_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
