/* Unit tests of lib/base: error codes, diagnostics, logging and its rate limit, memory and
 * string helpers, whole-file reads, paths, rig kinds, SHA-256 and the decimal text round trip.
 *
 * Expected values come from outside the code under test: the SHA-256 digests are the test
 * vectors of FIPS 180-2 (appendix B) and, for lengths around the padding boundaries, coreutils'
 * sha256sum; decimal texts are built digit by digit by the test's own string code; every other
 * expectation is written out by hand from the contract in the module's header.  (decimal.c's
 * arithmetic, rounding and overflow are tested in test_metrology.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "decimal.h"
#include "diag.h"
#include "error.h"
#include "kinds.h"
#include "log.h"
#include "sha256.h"
#include "testutil.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static char *tmpdir;

static int setup(void **state)
{
	(void)state;
	tmpdir = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
	return 0;
}

/* A file of len bytes in the test's directory; returns its path (free it). */
static char *write_file(const char *name, const void *data, size_t len)
{
	char *path = metro_path_join(tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* What was written to stderr while capture was on. */
struct capture {
	int saved;
	FILE *file;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(fileno(c->file), 2), 2);
}

/* Stop capturing; returns what was written (free it). */
static char *capture_end(struct capture *c)
{
	fflush(stderr);
	assert_int_equal(dup2(c->saved, 2), 2);
	close(c->saved);
	long n = ftell(c->file);
	assert_true(n >= 0);
	char *out = metro_malloc((size_t)n + 1);
	rewind(c->file);
	assert_int_equal(fread(out, 1, (size_t)n, c->file), (size_t)n);
	out[n] = '\0';
	fclose(c->file);
	return out;
}

/* ---- error.c ------------------------------------------------------------------------------ */

static void test_error_names(void **state)
{
	(void)state;
	/* The stable machine names (JSON error objects) and which failures are worth a retry:
	 * error.h marks IO, TIMEOUT, PROTO and CLOSED retryable, everything else permanent. */
	static const struct {
		int code;
		const char *name;
		int retry;
	} tab[] = {
		{METRO_OK, "ok", 0},
		{METRO_E_INVAL, "invalid", 0},
		{METRO_E_NOMEM, "nomem", 0},
		{METRO_E_IO, "io", 1},
		{METRO_E_TIMEOUT, "timeout", 1},
		{METRO_E_PROTO, "protocol", 1},
		{METRO_E_DEVICE, "device", 0},
		{METRO_E_NOTFOUND, "not-found", 0},
		{METRO_E_EXISTS, "exists", 0},
		{METRO_E_STATE, "state", 0},
		{METRO_E_RANGE, "range", 0},
		{METRO_E_DENIED, "denied", 0},
		{METRO_E_CORRUPT, "corrupt", 0},
		{METRO_E_UNSUPPORTED, "unsupported", 0},
		{METRO_E_CLOSED, "closed", 1},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(tab); i++) {
		assert_string_equal(metro_errname(tab[i].code), tab[i].name);
		assert_int_equal(metro_err_retryable(tab[i].code) != 0, tab[i].retry);
		const char *text = metro_strerror(tab[i].code);
		assert_non_null(text);
		assert_true(strlen(text) > 0);
		assert_string_not_equal(text, "unknown error");
		/* every code has its own text and name */
		for (size_t k = 0; k < i; k++) {
			assert_string_not_equal(metro_strerror(tab[k].code), text);
			assert_string_not_equal(metro_errname(tab[k].code), tab[i].name);
		}
	}
	assert_string_equal(metro_strerror(METRO_E_TIMEOUT), "timed out");
	assert_string_equal(metro_strerror(METRO_E_CORRUPT), "data fails verification");
	/* never NULL, also for a code that is not ours */
	assert_string_equal(metro_strerror(-99), "unknown error");
	assert_string_equal(metro_strerror(1), "unknown error");
	assert_string_equal(metro_errname(-99), "unknown");
	assert_false(metro_err_retryable(-99));
	assert_false(metro_err_retryable(1));
}

/* ---- diag.c -------------------------------------------------------------------------------- */

static void test_diag_format(void **state)
{
	(void)state;
	struct metro_diag d;
	metro_diag_init(&d);
	assert_int_equal(metro_diag_count(&d), 0);
	metro_diag_add(&d, "rigs.yaml", 12, 7, "rigs[%d].port: %s", 1, "not a number");
	metro_diag_add(&d, "rigs.yaml", 3, 0, "no column");	  /* col unknown: omitted */
	metro_diag_add(&d, "rigs.yaml", 0, 0, "whole file");	  /* no position at all */
	metro_diag_add(&d, "rigs.yaml", 0, 9, "column, no line"); /* a column alone means nothing */
	metro_diag_add(&d, "a b.yaml", 4294967295u, 1, "%s", "100%");
	assert_int_equal(metro_diag_count(&d), 5);
	assert_string_equal(d.msgs[0], "rigs.yaml:12:7: rigs[1].port: not a number");
	assert_string_equal(d.msgs[1], "rigs.yaml:3: no column");
	assert_string_equal(d.msgs[2], "rigs.yaml: whole file");
	assert_string_equal(d.msgs[3], "rigs.yaml: column, no line");
	assert_string_equal(d.msgs[4], "a b.yaml:4294967295:1: 100%");

	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	metro_diag_print(&d, f);
	fclose(f);
	assert_string_equal(out, "rigs.yaml:12:7: rigs[1].port: not a number\n"
				 "rigs.yaml:3: no column\n"
				 "rigs.yaml: whole file\n"
				 "rigs.yaml: column, no line\n"
				 "a b.yaml:4294967295:1: 100%\n");
	free(out);
	metro_diag_free(&d);
	assert_int_equal(metro_diag_count(&d), 0);
	assert_null(d.msgs);
	metro_diag_free(&d); /* twice is harmless */
}

static void test_diag_cap_and_move(void **state)
{
	(void)state;
	struct metro_diag d, e;
	metro_diag_init(&d);
	metro_diag_init(&e);
	/* 205 problems: 200 kept, 5 counted */
	for (unsigned i = 1; i <= METRO_DIAG_MAX + 5; i++)
		metro_diag_add(&d, "big.yaml", i, 1, "problem %u", i);
	assert_int_equal(d.n, METRO_DIAG_MAX);
	assert_int_equal(d.dropped, 5);
	assert_int_equal(metro_diag_count(&d), METRO_DIAG_MAX + 5);
	assert_string_equal(d.msgs[METRO_DIAG_MAX - 1], "big.yaml:200:1: problem 200");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	metro_diag_print(&d, f);
	fclose(f);
	const char *tail = "big.yaml:200:1: problem 200\n(5 more problems not shown)\n";
	assert_true(len > strlen(tail));
	assert_string_equal(out + len - strlen(tail), tail);
	free(out);

	/* move: src's messages go to the end of dst, in order; src is left empty */
	metro_diag_add(&e, "x.yaml", 1, 1, "first");
	struct metro_diag s;
	metro_diag_init(&s);
	metro_diag_add(&s, "y.yaml", 2, 2, "second");
	metro_diag_add(&s, "y.yaml", 3, 3, "third");
	metro_diag_move(&e, &s);
	assert_int_equal(metro_diag_count(&s), 0);
	assert_null(s.msgs);
	assert_int_equal(metro_diag_count(&e), 3);
	assert_string_equal(e.msgs[0], "x.yaml:1:1: first");
	assert_string_equal(e.msgs[1], "y.yaml:2:2: second");
	assert_string_equal(e.msgs[2], "y.yaml:3:3: third");
	/* moving a full list: dst keeps its cap, and every message is still counted */
	metro_diag_move(&e, &d);
	assert_int_equal(e.n, METRO_DIAG_MAX);
	assert_int_equal(metro_diag_count(&e), 3 + METRO_DIAG_MAX + 5);
	assert_string_equal(e.msgs[3], "big.yaml:1:1: problem 1");
	assert_int_equal(metro_diag_count(&d), 0);
	metro_diag_free(&e);
	metro_diag_free(&d);
}

/* ---- log.c --------------------------------------------------------------------------------- */

static void test_log_levels(void **state)
{
	(void)state;
	int old = metro_log_get_level();
	metro_log_set_level(METRO_LOG_INFO);
	assert_int_equal(metro_log_get_level(), METRO_LOG_INFO);
	struct capture c;
	capture_start(&c);
	metro_err("rig %s: %d", "water-1", 3);
	metro_warn("w");
	metro_notice("n");
	metro_info("i");
	metro_debug("dropped at INFO");
	metro_log_set_level(METRO_LOG_WARNING);
	metro_notice("dropped at WARNING");
	metro_warn("kept at WARNING");
	metro_log_set_level(METRO_LOG_DEBUG);
	metro_debug("kept at DEBUG");
	char *out = capture_end(&c);
	/* one line per message, the syslog priority in front (journald reads it) */
	assert_string_equal(out, "<3>rig water-1: 3\n<4>w\n<5>n\n<6>i\n<4>kept at WARNING\n"
				 "<7>kept at DEBUG\n");
	free(out);
	metro_log_set_level(old);
}

static void test_log_ratelimit(void **state)
{
	(void)state;
	int old = metro_log_get_level();
	metro_log_set_level(METRO_LOG_INFO);
	struct metro_ratelimit rl;
	memset(&rl, 0, sizeof rl);
	rl.interval_s = 3600; /* no window ends by itself during the test */
	struct capture c;
	capture_start(&c);
	int r1 = metro_log_limited(&rl, METRO_LOG_WARNING, "dev %d: timeout", 1);
	int r2 = metro_log_limited(&rl, METRO_LOG_WARNING, "dev %d: timeout", 2);
	int r3 = metro_log_limited(&rl, METRO_LOG_WARNING, "dev %d: timeout", 3);
	unsigned suppressed = rl.suppressed;
	/* the window has passed (moved back by hand): the next message says how many were
	 * swallowed, and a new window starts */
	rl.window_start_ns = metro_now_ns() - 3601ull * 1000000000u;
	int r4 = metro_log_limited(&rl, METRO_LOG_WARNING, "dev %d: timeout", 4);
	unsigned after = rl.suppressed;
	int r5 = metro_log_limited(&rl, METRO_LOG_WARNING, "dev %d: timeout", 5);
	/* interval 0 means 60 s */
	struct metro_ratelimit dflt;
	memset(&dflt, 0, sizeof dflt);
	int d1 = metro_log_limited(&dflt, METRO_LOG_ERR, "a");
	dflt.window_start_ns = metro_now_ns() - 50ull * 1000000000u;
	int d2 = metro_log_limited(&dflt, METRO_LOG_ERR, "b");
	dflt.window_start_ns = metro_now_ns() - 61ull * 1000000000u;
	int d3 = metro_log_limited(&dflt, METRO_LOG_ERR, "c");
	/* a priority the level drops is not logged */
	struct metro_ratelimit quiet;
	memset(&quiet, 0, sizeof quiet);
	int q1 = metro_log_limited(&quiet, METRO_LOG_DEBUG, "debug");
	char *out = capture_end(&c);
	assert_int_equal(r1, 1);
	assert_int_equal(r2, 0);
	assert_int_equal(r3, 0);
	assert_int_equal(suppressed, 2);
	assert_int_equal(r4, 1);
	assert_int_equal(after, 0);
	assert_int_equal(r5, 0);
	assert_int_equal(d1, 1);
	assert_int_equal(d2, 0);
	assert_int_equal(d3, 1);
	assert_int_equal(q1, 0);
	assert_string_equal(out, "<4>dev 1: timeout\n"
				 "<4>(2 similar suppressed) dev 4: timeout\n"
				 "<3>a\n"
				 "<3>(1 similar suppressed) c\n");
	free(out);
	metro_log_set_level(old);
}

static void test_now_monotonic(void **state)
{
	(void)state;
	struct timespec ts;
	uint64_t a = metro_now_ns();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mid = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	uint64_t b = metro_now_ns();
	/* the same clock as CLOCK_MONOTONIC, in nanoseconds */
	assert_true(a <= mid);
	assert_true(mid <= b);
}

/* ---- util.c -------------------------------------------------------------------------------- */

static void test_strings(void **state)
{
	(void)state;
	char buf[8];
	/* strlcpy: copies at most size-1, always terminates, returns strlen(src) */
	memset(buf, 'x', sizeof buf);
	assert_int_equal(metro_strlcpy(buf, "abc", sizeof buf), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(metro_strlcpy(buf, "abcdefghij", sizeof buf), 10);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(metro_strlcpy(buf, "1234567", sizeof buf), 7); /* exactly fits */
	assert_string_equal(buf, "1234567");
	memset(buf, 'x', sizeof buf);
	assert_int_equal(metro_strlcpy(buf, "abc", 1), 3);
	assert_string_equal(buf, "");
	memset(buf, 'x', sizeof buf);
	assert_int_equal(metro_strlcpy(buf, "abc", 0), 3); /* size 0: nothing written */
	assert_int_equal(buf[0], 'x');
	assert_int_equal(metro_strlcpy(buf, "", sizeof buf), 0);
	assert_string_equal(buf, "");

	char *s = metro_strdup("héllo");
	assert_string_equal(s, "héllo");
	free(s);
	s = metro_strndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = metro_strndup("a\0bc", 4); /* n bytes, whatever they are */
	assert_memory_equal(s, "a\0bc", 5);
	free(s);
	s = metro_strndup("", 0);
	assert_string_equal(s, "");
	free(s);

	s = metro_asprintf("%s-%04d-%.2f", "cert", 7, 2.5);
	assert_string_equal(s, "cert-0007-2.50");
	free(s);
	s = metro_asprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
	/* longer than any internal first guess */
	s = metro_asprintf("%5000d|", 1);
	assert_int_equal(strlen(s), 5001);
	assert_int_equal(s[4999], '1');
	assert_int_equal(s[5000], '|');
	free(s);
}

static void test_memory(void **state)
{
	(void)state;
	/* zero sizes still give a pointer that can be freed (never NULL) */
	void *p = metro_malloc(0);
	assert_non_null(p);
	p = metro_realloc(p, 0);
	assert_non_null(p);
	free(p);
	p = metro_calloc(0, 16);
	assert_non_null(p);
	free(p);
	unsigned char *z = metro_calloc(64, 4);
	for (int i = 0; i < 256; i++)
		assert_int_equal(z[i], 0);
	z = metro_realloc(z, 100000);
	assert_int_equal(z[255], 0); /* contents kept */
	z[99999] = 1;
	free(z);
	/* freep frees and clears; NULL is fine */
	char *q = metro_strdup("x");
	metro_freep(&q);
	assert_null(q);
	metro_freep(&q);
	assert_null(q);
}

static void test_read_file(void **state)
{
	(void)state;
	char *data = metro_malloc(10000);
	for (int i = 0; i < 10000; i++)
		data[i] = (char)('a' + i % 26);
	char *path = write_file("ten-k", data, 10000);
	char *out = (char *)1;
	size_t len = 1;
	/* read whole (longer than the first 4096-byte buffer), terminated */
	assert_int_equal(metro_read_file(path, 10000, &out, &len), METRO_OK);
	assert_int_equal(len, 10000);
	assert_memory_equal(out, data, 10000);
	assert_int_equal(out[10000], '\0');
	free(out);
	/* max: the size itself is allowed, one byte less is not */
	out = (char *)1;
	len = 1;
	assert_int_equal(metro_read_file(path, 9999, &out, &len), METRO_E_RANGE);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(metro_read_file(path, 100, &out, NULL), METRO_E_RANGE);
	assert_null(out);
	/* len may be NULL */
	assert_int_equal(metro_read_file(path, 1u << 20, &out, NULL), METRO_OK);
	assert_int_equal(strlen(out), 10000);
	free(out);
	free(path);
	/* exactly the first buffer's size, and one more */
	path = write_file("4096", data, 4096);
	assert_int_equal(metro_read_file(path, 4096, &out, &len), METRO_OK);
	assert_int_equal(len, 4096);
	free(out);
	free(path);
	path = write_file("4097", data, 4097);
	assert_int_equal(metro_read_file(path, 4096, &out, &len), METRO_E_RANGE);
	assert_null(out);
	assert_int_equal(metro_read_file(path, 4097, &out, &len), METRO_OK);
	assert_int_equal(len, 4097);
	free(out);
	free(path);
	/* empty file: "" */
	path = write_file("empty", "", 0);
	assert_int_equal(metro_read_file(path, 0, &out, &len), METRO_OK);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
	free(path);
	/* missing file and a directory */
	path = metro_path_join(tmpdir, "no-such-file");
	assert_int_equal(metro_read_file(path, 100, &out, &len), METRO_E_NOTFOUND);
	assert_null(out);
	free(path);
	assert_int_equal(metro_read_file(tmpdir, 100, &out, &len), METRO_E_IO);
	assert_null(out);
	free(data);
}

static void test_paths(void **state)
{
	(void)state;
	static const struct {
		const char *dir, *path, *want;
	} join[] = {
		{"/etc/metrod", "rigs.yaml", "/etc/metrod/rigs.yaml"},
		{"/etc/metrod", "profiles/a.yaml", "/etc/metrod/profiles/a.yaml"},
		{"/etc/metrod", "/abs/b.yaml", "/abs/b.yaml"}, /* absolute: unchanged */
		{"config", "x", "config/x"},
		{".", "x", "x"},
		{"", "x", "x"},
		{NULL, "x", "x"},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(join); i++) {
		char *s = metro_path_join(join[i].dir, join[i].path);
		assert_string_equal(s, join[i].want);
		free(s);
	}
	static const struct {
		const char *path, *want;
	} dir[] = {
		{"/etc/metrod/metrod.yaml", "/etc/metrod"},
		{"config/demo.yaml", "config"},
		{"demo.yaml", "."},
		{"/metrod.yaml", "/"},
		{"a/b/c", "a/b"},
		{"", "."},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(dir); i++) {
		char *s = metro_dirname(dir[i].path);
		assert_string_equal(s, dir[i].want);
		/* the directory joined with the base name is the path again */
		const char *slash = strrchr(dir[i].path, '/');
		if (slash && slash != dir[i].path) {
			char *back = metro_path_join(s, slash + 1);
			assert_string_equal(back, dir[i].path);
			free(back);
		}
		free(s);
	}
}

/* ---- kinds.c ------------------------------------------------------------------------------- */

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(METRO_RIG_KINDS, 3);
	assert_string_equal(metro_rig_kind_name(METRO_RIG_FLOW_BENCH), "flow-bench");
	assert_string_equal(metro_rig_kind_name(METRO_RIG_ELECTRICITY_BENCH), "electricity-bench");
	assert_string_equal(metro_rig_kind_name(METRO_RIG_BELL_PROVER), "bell-prover");
	for (int k = 0; k < METRO_RIG_KINDS; k++)
		assert_ptr_equal(metro_rig_kind_name((enum metro_rig_kind)k),
				 metro_rig_kind_names[k]);
	assert_string_equal(metro_rig_kind_name(METRO_RIG_KINDS), "unknown");
	assert_string_equal(metro_rig_kind_name((enum metro_rig_kind) - 1), "unknown");
}

/* ---- sha256.c ------------------------------------------------------------------------------ */

/* FIPS 180-2 appendix B (and the well-known digest of the empty message) */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MSG_896                                                                                    \
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr" \
	"lmnopqrsmnopqrstnopqrstu"
#define SHA_896 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void test_sha256_vectors(void **state)
{
	(void)state;
	char hex[METRO_SHA256_HEX];
	memset(hex, 'x', sizeof hex);
	metro_sha256_hex("", 0, hex);
	assert_string_equal(hex, SHA_EMPTY);
	metro_sha256_hex(NULL, 0, hex);
	assert_string_equal(hex, SHA_EMPTY);
	metro_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, SHA_ABC);
	assert_int_equal(strlen(MSG_448), 56); /* 448 bits: the length no longer fits the block */
	metro_sha256_hex(MSG_448, strlen(MSG_448), hex);
	assert_string_equal(hex, SHA_448);
	assert_int_equal(strlen(MSG_896), 112);
	metro_sha256_hex(MSG_896, strlen(MSG_896), hex);
	assert_string_equal(hex, SHA_896);
	char *million = metro_malloc(1000000);
	memset(million, 'a', 1000000);
	metro_sha256_hex(million, 1000000, hex);
	assert_string_equal(hex, SHA_MILLION_A);
	/* one byte changed: another digest (only the length and content count, not the buffer) */
	million[999999] = 'b';
	metro_sha256_hex(million, 1000000, hex);
	assert_string_not_equal(hex, SHA_MILLION_A);
	free(million);
}

static void test_sha256_file(void **state)
{
	(void)state;
	char hex[METRO_SHA256_HEX];
	/* the file digest reads in 64 KiB pieces (incremental): one million 'a' is 15 pieces
	 * and a partial one, and must give the one-shot digest */
	char *million = metro_malloc(1000000);
	memset(million, 'a', 1000000);
	char *path = write_file("million", million, 1000000);
	assert_int_equal(metro_sha256_file(path, hex), METRO_OK);
	assert_string_equal(hex, SHA_MILLION_A);
	free(path);
	free(million);
	path = write_file("abc", "abc", 3);
	assert_int_equal(metro_sha256_file(path, hex), METRO_OK);
	assert_string_equal(hex, SHA_ABC);
	free(path);
	path = write_file("empty", "", 0);
	assert_int_equal(metro_sha256_file(path, hex), METRO_OK);
	assert_string_equal(hex, SHA_EMPTY);
	free(path);
	/* errors leave an empty string */
	path = metro_path_join(tmpdir, "missing");
	memset(hex, 'x', sizeof hex);
	assert_int_equal(metro_sha256_file(path, hex), METRO_E_NOTFOUND);
	assert_string_equal(hex, "");
	free(path);
	memset(hex, 'x', sizeof hex);
	assert_int_equal(metro_sha256_file(tmpdir, hex), METRO_E_IO);
	assert_string_equal(hex, "");
}

/* Lengths around the padding boundaries (55/56/64 bytes: the length field fits the last block
 * or needs another) and the file reader's 64 KiB pieces, against coreutils' sha256sum. */
static void test_sha256_against_sha256sum(void **state)
{
	(void)state;
	static const size_t lens[] = {1,   54,	55,  56,  57,	 63,	64,    65,     111,
				      112, 119, 120, 128, 65535, 65536, 65537, 131072, 200003};
	unsigned seed = 4242;
	char *buf = metro_malloc(200003);
	for (size_t i = 0; i < 200003; i++)
		buf[i] = (char)rand_r(&seed);
	for (size_t i = 0; i < METRO_ARRAY_SIZE(lens); i++) {
		char name[32], mem[METRO_SHA256_HEX], file[METRO_SHA256_HEX], ref[80];
		snprintf(name, sizeof name, "len-%zu", lens[i]);
		char *path = write_file(name, buf, lens[i]);
		char *cmd = metro_asprintf("sha256sum '%s'", path);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		assert_non_null(fgets(ref, sizeof ref, p));
		assert_int_equal(pclose(p), 0);
		ref[64] = '\0';
		metro_sha256_hex(buf, lens[i], mem);
		assert_int_equal(metro_sha256_file(path, file), METRO_OK);
		if (strcmp(mem, ref) != 0 || strcmp(file, ref) != 0)
			fprintf(stderr, "length %zu: buffer %s file %s sha256sum %s\n", lens[i],
				mem, file, ref);
		assert_string_equal(mem, ref);
		assert_string_equal(file, ref);
		/* 64 lowercase hex digits */
		assert_int_equal(strspn(mem, "0123456789abcdef"), 64);
		free(cmd);
		free(path);
	}
	free(buf);
}

/* ---- decimal.c: text in, text out ----------------------------------------------------------- */

/* A number built as text by the test: sign, significant digits D (first and last nonzero) and a
 * power of ten E, value = ±D × 10^E.  canon is how it is written with no exponent, no leading
 * or trailing zeros ("-0.0025", "120"). */
struct numtext {
	int neg;
	char digits[40];
	int exp10;
	char canon[100];
	int places; /* fractional digits of canon */
};

static void make_canon(struct numtext *t)
{
	size_t n = strlen(t->digits);
	char *o = t->canon;
	if (t->neg)
		*o++ = '-';
	if (t->exp10 >= 0) {
		memcpy(o, t->digits, n);
		o += n;
		for (int i = 0; i < t->exp10; i++)
			*o++ = '0';
		t->places = 0;
	} else {
		size_t k = (size_t)-t->exp10;
		if (n > k) {
			memcpy(o, t->digits, n - k);
			o += n - k;
			*o++ = '.';
			memcpy(o, t->digits + n - k, k);
			o += k;
		} else {
			*o++ = '0';
			*o++ = '.';
			for (size_t i = 0; i < k - n; i++)
				*o++ = '0';
			memcpy(o, t->digits, n);
			o += n;
		}
		t->places = (int)k;
	}
	*o = '\0';
}

/* The same value written another way: the point moved, zeros in front and behind, an
 * exponent (either case, with or without '+'), a '+' sign. */
static void other_spelling(const struct numtext *t, unsigned *seed, char *out, size_t cap)
{
	size_t n = strlen(t->digits);
	size_t at = (size_t)rand_r(seed) % (n + 1); /* digits before the point */
	int lead = rand_r(seed) % 3, trail = rand_r(seed) % 3;
	/* D with the point after `at` digits is D × 10^-(n - at); the exponent makes up the rest */
	long x = t->exp10 + (long)(n - at);
	char *o = out;
	if (t->neg)
		*o++ = '-';
	else if (rand_r(seed) % 4 == 0)
		*o++ = '+';
	for (int i = 0; i < lead; i++)
		*o++ = '0';
	memcpy(o, t->digits, at);
	o += at;
	if (at < n || trail) {
		*o++ = '.';
		memcpy(o, t->digits + at, n - at);
		o += n - at;
		for (int i = 0; i < trail; i++)
			*o++ = '0';
	}
	*o = '\0';
	if (x != 0 || rand_r(seed) % 2)
		snprintf(o, cap - (size_t)(o - out), "%c%s%ld", rand_r(seed) % 2 ? 'e' : 'E',
			 x >= 0 && rand_r(seed) % 2 ? "+" : "", x);
}

static void test_dec_text_round_trip(void **state)
{
	(void)state;
	unsigned seed = 20240611;
	char buf[128], spelled[128];
	for (int i = 0; i < 20000; i++) {
		struct numtext t;
		memset(&t, 0, sizeof t);
		t.neg = rand_r(&seed) % 2;
		size_t n = 1 + (size_t)rand_r(&seed) % METRO_DEC_MAX_DIGITS;
		for (size_t k = 0; k < n; k++)
			t.digits[k] = (char)('0' + rand_r(&seed) % 10);
		t.digits[0] = (char)('1' + rand_r(&seed) % 9);
		t.digits[n - 1] = (char)('1' + rand_r(&seed) % 9);
		/* within reach: |value| < 10^38 and no digit below 10^-38 */
		int emin = -38, emax = 38 - (int)n;
		t.exp10 = emin + rand_r(&seed) % (emax - emin + 1);
		make_canon(&t);
		other_spelling(&t, &seed, spelled, sizeof spelled);

		struct metro_dec a, b;
		if (metro_dec_parse(t.canon, &a) != METRO_OK ||
		    metro_dec_parse(spelled, &b) != METRO_OK) {
			fprintf(stderr, "cannot parse %s or %s\n", t.canon, spelled);
			fail();
		}
		assert_int_equal(metro_dec_cmp(a, b), 0);
		/* at most 38 significant digits are written exactly, as the canonical text */
		assert_int_equal(metro_dec_format_sig(b, METRO_DEC_MAX_DIGITS, buf, sizeof buf),
				 METRO_OK);
		if (strcmp(buf, t.canon) != 0)
			fprintf(stderr, "%s (%s): format_sig gives %s\n", t.canon, spelled, buf);
		assert_string_equal(buf, t.canon);
		/* with exactly its own places, format writes the same text */
		assert_int_equal(metro_dec_format(b, t.places, buf, sizeof buf), METRO_OK);
		assert_string_equal(buf, t.canon);
		/* and the text reads back as the same number */
		assert_int_equal(metro_dec_parse(buf, &a), METRO_OK);
		assert_int_equal(metro_dec_cmp(a, b), 0);
		/* two more places: the same digits with "00" after them (and a point) */
		assert_int_equal(metro_dec_format(b, t.places + 2, buf, sizeof buf), METRO_OK);
		assert_int_equal(strncmp(buf, t.canon, strlen(t.canon)), 0);
		assert_string_equal(buf + strlen(t.canon), t.places ? "00" : ".00");
		/* the sign is the text's */
		assert_int_equal(metro_dec_sign(b), t.neg ? -1 : 1);
	}
}

static void test_dec_text_edges(void **state)
{
	(void)state;
	struct metro_dec d;
	char buf[128];
	static const struct {
		const char *in;
		int err;
		const char *canon;
	} cases[] = {
		/* leading zeros are not significant digits, however many */
		{"00000000000000000000000000000000000000000000000001", 0, "1"},
		{"-0000000000000000000000000000000000000000000000.5", 0, "-0.5"},
		/* trailing zeros only scale: 1 followed by 38 zeros has one significant digit */
		{"100000000000000000000000000000000000000", 0,
		 "100000000000000000000000000000000000000"},
		{"1.00000000000000000000000000000000000000000000000000", 0, "1"},
		/* the largest 38-digit integer, and one digit too many */
		{"99999999999999999999999999999999999999", 0,
		 "99999999999999999999999999999999999999"},
		{"999999999999999999999999999999999999999", METRO_E_RANGE, NULL},
		/* the smallest magnitude, in several spellings */
		{"1e-38", 0, "0.00000000000000000000000000000000000001"},
		{"0.1E-37", 0, "0.00000000000000000000000000000000000001"},
		{"-10e-39", 0, "-0.00000000000000000000000000000000000001"},
		{"1e-39", METRO_E_RANGE, NULL},
		/* exponents: up to four digits, leading zeros allowed, sign optional */
		{"1e0038", 0, "100000000000000000000000000000000000000"},
		{"25E-0001", 0, "2.5"},
		{"5e+0", 0, "5"},
		{"1e00001", METRO_E_RANGE, NULL}, /* five exponent digits */
		{"0e-9999", 0, "0"},
		{"0.000e+9999", 0, "0"},
		/* zeros of every spelling are 0, without a sign */
		{"-0", 0, "0"},
		{"+0.000", 0, "0"},
		{"-.0", 0, "0"},
		/* refused spellings (the value is left as it was) */
		{"+", METRO_E_INVAL, NULL},
		{"+-1", METRO_E_INVAL, NULL},
		{"1.5.", METRO_E_INVAL, NULL},
		{"1e1.5", METRO_E_INVAL, NULL},
		{"1e-", METRO_E_INVAL, NULL},
		{"1ee5", METRO_E_INVAL, NULL},
		{"e", METRO_E_INVAL, NULL},
		{".e1", METRO_E_INVAL, NULL},
		{"1,5", METRO_E_INVAL, NULL},
		{"1_000", METRO_E_INVAL, NULL},
		{"\t1", METRO_E_INVAL, NULL},
		{"1\n", METRO_E_INVAL, NULL},
		{"Infinity", METRO_E_INVAL, NULL},
		{"-nan", METRO_E_INVAL, NULL},
		{"0x1p3", METRO_E_INVAL, NULL},
		{"１", METRO_E_INVAL, NULL}, /* a full-width digit */
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cases); i++) {
		d = metro_dec_e(7, 0);
		int err = metro_dec_parse(cases[i].in, &d);
		if (err != cases[i].err)
			fprintf(stderr, "parse '%s': %d, want %d\n", cases[i].in, err,
				cases[i].err);
		assert_int_equal(err, cases[i].err);
		if (!cases[i].canon) {
			assert_int_equal(metro_dec_cmp(d, metro_dec_e(7, 0)), 0);
			continue;
		}
		assert_int_equal(metro_dec_format_sig(d, METRO_DEC_MAX_DIGITS, buf, sizeof buf), 0);
		if (strcmp(buf, cases[i].canon) != 0)
			fprintf(stderr, "parse '%s' -> %s, want %s\n", cases[i].in, buf,
				cases[i].canon);
		assert_string_equal(buf, cases[i].canon);
	}
	/* an inner run of zeros counts: 1, 36 zeros and 1 are 38 significant digits; 1, 37 zeros
	 * and 1 are 39 */
	char inner[64];
	snprintf(inner, sizeof inner, "1%036d.1", 0);
	assert_int_equal(strlen(inner), 39);
	assert_int_equal(metro_dec_parse(inner, &d), METRO_OK);
	assert_int_equal(metro_dec_format(d, 1, buf, sizeof buf), METRO_OK);
	assert_string_equal(buf, inner);
	snprintf(inner, sizeof inner, "1%037d.1", 0);
	assert_int_equal(metro_dec_parse(inner, &d), METRO_E_RANGE);
	snprintf(inner, sizeof inner, "0.1%036d1", 0); /* the same after the point */
	assert_int_equal(metro_dec_parse(inner, &d), METRO_OK);
	snprintf(inner, sizeof inner, "0.1%037d1", 0);
	assert_int_equal(metro_dec_parse(inner, &d), METRO_E_RANGE);

	/* parsen reads exactly len bytes of a buffer that is not terminated (ASan watches the
	 * byte after it) */
	char *raw = metro_malloc(4);
	memcpy(raw, "12.5", 4);
	assert_int_equal(metro_dec_parsen(raw, 4, &d), METRO_OK);
	assert_int_equal(metro_dec_cmp(d, metro_dec_e(125, -1)), 0);
	assert_int_equal(metro_dec_parsen(raw, 2, &d), METRO_OK);
	assert_int_equal(metro_dec_cmp(d, metro_dec_e(12, 0)), 0);
	assert_int_equal(metro_dec_parsen(raw, 3, &d), METRO_OK); /* "12." */
	assert_int_equal(metro_dec_cmp(d, metro_dec_e(12, 0)), 0);
	assert_int_equal(metro_dec_parsen(raw, 0, &d), METRO_E_INVAL);
	free(raw);
	/* an embedded NUL inside len is not the end of the number */
	assert_int_equal(metro_dec_parsen("1\0002", 3, &d), METRO_E_INVAL);

	/* format: the buffer needs exactly the text and its NUL */
	d = metro_dec_e(-125, -1); /* -12.5 */
	assert_int_equal(metro_dec_format(d, 2, buf, 7), METRO_OK);
	assert_string_equal(buf, "-12.50");
	assert_int_equal(metro_dec_format(d, 2, buf, 6), METRO_E_RANGE);
	assert_string_equal(buf, "");
	/* a negative value that rounds to zero has no sign; one that rounds away keeps it */
	assert_int_equal(metro_dec_format(metro_dec_e(-5, -3), 2, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.00"); /* -0.005 -> -0.00 (tie to even) -> "0.00" */
	assert_int_equal(metro_dec_format(metro_dec_e(-15, -3), 2, buf, sizeof buf), 0);
	assert_string_equal(buf, "-0.02"); /* -0.015: tie, to the even 2 */
	/* every place up to 40 */
	assert_int_equal(
		metro_dec_format(metro_dec_e(1, -38), METRO_DEC_MAX_PLACES, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.0000000000000000000000000000000000000100");
	/* the largest magnitudes print in full */
	struct metro_dec big;
	assert_int_equal(metro_dec_parse("-99999999999999999999999999999999999999", &big), 0);
	assert_int_equal(metro_dec_format(big, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "-99999999999999999999999999999999999999.0");
	/* format_sig: significant digits count from the first nonzero one */
	assert_int_equal(metro_dec_format_sig(metro_dec_e(123456, -9), 3, buf, sizeof buf), 0);
	assert_string_equal(buf, "0.000123");
	assert_int_equal(metro_dec_format_sig(metro_dec_e(987654321, 0), 4, buf, sizeof buf), 0);
	assert_string_equal(buf, "987654321"); /* integers are never cut to fewer digits */
	assert_int_equal(metro_dec_format_sig(metro_dec_e(-2, -1), 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "-0.2");
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_diag_cap_and_move),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_log_ratelimit),
		cmocka_unit_test(test_now_monotonic),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_memory),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test_setup_teardown(test_sha256_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sha256_against_sha256sum, setup, teardown),
		cmocka_unit_test(test_dec_text_round_trip),
		cmocka_unit_test(test_dec_text_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
