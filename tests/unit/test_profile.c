/* Unit tests of rig profiles: the shipped profiles load with the channels the engine needs,
 * per-position channels expand with their stride, and every file in tests/data/bad-profiles/ is
 * rejected with exactly the messages written at its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "profile.h"
#include "testutil.h"
#include "util.h"

/* A refused profile must leave nothing behind (*out NULL). */
static int load_profile(const char *path, struct metro_diag *d)
{
	struct metro_profile *p = (struct metro_profile *)1;
	int err = metro_profile_load(path, 4, d, &p);
	if (!err) {
		metro_profile_destroy(&p);
		return METRO_OK;
	}
	return p ? METRO_E_STATE : err; /* refused, yet something left behind */
}

static void test_bad_profiles(void **state)
{
	(void)state;
	assert_int_equal(tu_check_corpus("tests/data/bad-profiles", 20, load_profile), 0);
}

static struct metro_profile *load(const char *path, int positions)
{
	struct metro_diag d;
	struct metro_profile *p = NULL;
	metro_diag_init(&d);
	int err = metro_profile_load(path, positions, &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(err, 0);
	return p;
}

static void test_flow_bench(void **state)
{
	(void)state;
	struct metro_profile *p = load("config/profiles/flow-bench.yaml", 10);
	assert_int_equal(p->transport, METRO_TRANSPORT_MODBUS);
	assert_string_equal(p->kind, "flow-bench");
	const struct metro_channel *c = metro_profile_channel(p, "flow.setpoint");
	assert_non_null(c);
	assert_int_equal(c->table, METRO_TABLE_HOLDING);
	assert_int_equal(c->nregs, 2);
	assert_true(c->writable);
	c = metro_profile_channel(p, "ref.volume");
	assert_int_equal(c->codec.type, METRO_CODEC_F64);
	assert_int_equal(c->nregs, 4);
	assert_false(c->writable);
	/* pos[N].volume: address 100, stride 2, CDAB, scale 0.001, positions 1..10 */
	for (int k = 1; k <= 10; k++) {
		c = metro_profile_pos_channel(p, "volume", k);
		assert_non_null(c);
		assert_int_equal(c->position, k);
		assert_int_equal(c->address, 100 + 2 * (k - 1));
		assert_int_equal(c->codec.order, METRO_CODEC_CDAB);
		assert_true(c->codec.scale == 0.001);
		char name[32];
		snprintf(name, sizeof name, "pos[%d].volume", k);
		assert_ptr_equal(metro_profile_channel(p, name), c);
	}
	assert_null(metro_profile_pos_channel(p, "volume", 11));
	assert_null(metro_profile_pos_channel(p, "volume", 0));
	c = metro_profile_channel(p, "status.collecting");
	assert_int_equal(c->codec.type, METRO_CODEC_BITS);
	assert_int_equal(c->codec.bit_offset, 1);
	assert_int_equal(c->codec.bit_width, 1);
	/* Shared references: the last destroy frees. */
	struct metro_profile *q = metro_profile_ref(p);
	assert_ptr_equal(p, q);
	metro_profile_destroy(&q);
	assert_null(q);
	assert_non_null(metro_profile_channel(p, "collect")); /* still alive */
	assert_int_equal(strlen(p->sha256), 64);
	metro_profile_destroy(&p);
}

static void test_electricity_and_bell(void **state)
{
	(void)state;
	struct metro_profile *p = load("config/profiles/electricity-bench.yaml", 24);
	const struct metro_channel *c = metro_profile_pos_channel(p, "error", 24);
	assert_non_null(c);
	assert_int_equal(c->address, 104 + 8 * 23);
	assert_int_equal(c->codec.type, METRO_CODEC_I32);
	assert_true(c->codec.scale == 0.0001);
	metro_profile_destroy(&p);

	p = load("config/profiles/bell-prover.yaml", 6);
	assert_int_equal(p->transport, METRO_TRANSPORT_SERIAL_LINE);
	assert_string_equal(p->in_terminator, "\r\n");
	c = metro_profile_pos_channel(p, "temp", 6);
	assert_non_null(c);
	assert_string_equal(c->read_cmd, "MT %d?");
	assert_string_equal(c->read_reply, "MT %*d %f*%<xor8>");
	c = metro_profile_channel(p, "valve");
	assert_true(c->writable);
	assert_string_equal(c->write_cmd, "VALVE %d");
	metro_profile_destroy(&p);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_profiles),
		cmocka_unit_test(test_flow_bench),
		cmocka_unit_test(test_electricity_and_bell),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
