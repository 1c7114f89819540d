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
#include <unistd.h>

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

/* The example PLC profile: device behaviour as well as registers (docs/drivers.md). */
static void test_example_plc(void **state)
{
	(void)state;
	struct metro_profile *p = load("config/profiles/examples/plc-flow-bench.yaml", 6);
	const struct metro_channel *c = metro_profile_channel(p, "totals.reset");
	assert_int_equal(c->readback, METRO_READBACK_EXPECT);
	assert_true(c->expect == 0 && c->expect_ms == 2000);
	assert_int_equal(metro_profile_channel(p, "flow.run")->readback, METRO_READBACK_EXACT);
	c = metro_profile_pos_channel(p, "volume", 6);
	assert_int_equal(c->address, 1000 + 4 * 5);
	assert_int_equal(c->codec.order, METRO_CODEC_CDAB); /* the profile's default order */
	const struct metro_sequence *q = &p->seq[METRO_SEQ_ON_CONNECT];
	assert_int_equal(q->n, 2);
	assert_int_equal(q->steps[0].kind, METRO_STEP_WRITE);
	assert_string_equal(p->channels[q->steps[0].channel].name, "remote.enable");
	assert_true(q->steps[0].value == 1);
	assert_int_equal(q->steps[1].kind, METRO_STEP_WAIT);
	assert_string_equal(p->channels[q->steps[1].channel].name, "status.remote");
	assert_int_equal(q->steps[1].timeout_ms, 3000);
	assert_int_equal(p->seq[METRO_SEQ_BEFORE_RUN].n, 0);
	assert_int_equal(p->seq[METRO_SEQ_AFTER_RUN].n, 1);
	assert_true(p->seq[METRO_SEQ_AFTER_RUN].steps[0].value == 0);
	metro_profile_destroy(&p);
}

/* A pos[N]. step is one step per position, in order. */
static void test_sequence_per_position(void **state)
{
	(void)state;
	char path[] = "/tmp/metro-profile-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("kind: flow-bench\nmodel: x\ntransport: modbus\nchannels:\n"
	      "  - {name: flow.setpoint, table: holding, address: 0, writable: true}\n"
	      "  - {name: flow.run, table: coil, address: 0, writable: true}\n"
	      "  - {name: collect, table: coil, address: 1, writable: true}\n"
	      "  - {name: flow.actual, table: input, address: 0}\n"
	      "  - {name: ref.volume, table: input, address: 1}\n"
	      "  - {name: water.temp, table: input, address: 2}\n"
	      "  - {name: water.pressure, table: input, address: 3}\n"
	      "  - {name: \"pos[N].volume\", table: input, address: 10, stride: 1}\n"
	      "  - {name: \"pos[N].arm\", table: coil, address: 10, stride: 1, writable: true,"
	      " readback: false}\n"
	      "before_run:\n  - {write: \"pos[N].arm\", value: 1}\n  - {delay_ms: 5}\n",
	      f);
	fclose(f);
	struct metro_profile *p = load(path, 3);
	unlink(path);
	const struct metro_sequence *q = &p->seq[METRO_SEQ_BEFORE_RUN];
	assert_int_equal(q->n, 4);
	for (int k = 0; k < 3; k++)
		assert_ptr_equal(&p->channels[q->steps[k].channel],
				 metro_profile_pos_channel(p, "arm", k + 1));
	assert_int_equal(q->steps[3].kind, METRO_STEP_DELAY);
	assert_int_equal(q->steps[3].timeout_ms, 5);
	assert_int_equal(metro_profile_pos_channel(p, "arm", 2)->readback, METRO_READBACK_NONE);
	metro_profile_destroy(&p);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_profiles),	      cmocka_unit_test(test_flow_bench),
		cmocka_unit_test(test_electricity_and_bell),  cmocka_unit_test(test_example_plc),
		cmocka_unit_test(test_sequence_per_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
