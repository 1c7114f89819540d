/* Unit tests of the key paths in YAML messages (lib/base/yfile.h: metro_ykey, metro_yindex):
 * the exact strings the loaders print, nesting, the limit of METRO_YPATH_MAX - 1 characters,
 * a visible cut that never splits a UTF-8 character, two paths in one call, metro_y_map's
 * messages about a key too long for a path, and the SHA-256 of the bytes parsed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "error.h"
#include "yfile.h"

/* Nonzero when s is valid UTF-8 (no sequence cut short). */
static int utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int need = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : 3;
		p++;
		for (int k = 0; k < need; k++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_exact_strings(void **state)
{
	(void)state;
	assert_string_equal(metro_ykey("rigs[1]", "port").s, "rigs[1].port");
	assert_string_equal(metro_ykey("standards[0]", "uncertainty.value").s,
			    "standards[0].uncertainty.value");
	/* The top level: the key alone. */
	assert_string_equal(metro_ykey("", "station").s, "station");
	assert_string_equal(metro_ykey(NULL, "station").s, "station");
	assert_string_equal(metro_yindex("rigs", 0).s, "rigs[0]");
	assert_string_equal(metro_yindex("channels", 4711).s, "channels[4711]");
	assert_string_equal(metro_yindex("x", -1).s, "x[-1]");
	assert_string_equal(metro_yindex("x", INT_MAX).s, "x[2147483647]");
	/* Nested: the inner temporary lives through the outer call. */
	assert_string_equal(metro_yindex(metro_ykey(metro_yindex("rigs", 2).s, "standards").s, 1).s,
			    "rigs[2].standards[1]");
	assert_string_equal(metro_ykey(metro_yindex("meters", 3).s, "curve").s, "meters[3].curve");
}

/* Two paths in one call are two buffers (a shared buffer printed the second path twice). */
static void test_two_in_one_call(void **state)
{
	(void)state;
	char buf[64];
	snprintf(buf, sizeof buf, "%s|%s", metro_ykey("a", "b").s, metro_ykey("c", "d").s);
	assert_string_equal(buf, "a.b|c.d");
}

static void test_limit(void **state)
{
	(void)state;
	/* Exactly METRO_YPATH_MAX - 1 characters fit, uncut. */
	char *w = repeat('w', METRO_YPATH_MAX - 1 - 2);
	struct metro_ypath p = metro_ykey(w, "k");
	assert_int_equal(strlen(p.s), METRO_YPATH_MAX - 1);
	assert_int_equal(p.s[METRO_YPATH_MAX - 2], 'k');
	assert_int_equal(p.s[METRO_YPATH_MAX - 3], '.');
	/* One more and the path is cut, visibly, to the same length. */
	p = metro_ykey(w, "kk");
	assert_int_equal(strlen(p.s), METRO_YPATH_MAX - 1);
	assert_string_equal(p.s + METRO_YPATH_MAX - 4, "...");
	assert_memory_equal(p.s, w, METRO_YPATH_MAX - 4);
	free(w);

	/* An index that does not fit. */
	w = repeat('x', METRO_YPATH_MAX - 3);
	p = metro_yindex(w, 7);
	assert_int_equal(strlen(p.s), METRO_YPATH_MAX - 1);
	assert_string_equal(p.s + METRO_YPATH_MAX - 4, "...");
	free(w);
	p = metro_yindex("y", 7);
	assert_string_equal(p.s, "y[7]");

	/* A very long key: cut, never overflowing, the start kept. */
	char *k = repeat('k', 100000);
	p = metro_ykey("items[0]", k);
	assert_int_equal(strlen(p.s), METRO_YPATH_MAX - 1);
	assert_memory_equal(p.s, "items[0].kkk", 12);
	assert_string_equal(p.s + METRO_YPATH_MAX - 4, "...");
	free(k);
}

/* A cut falls between characters: the path stays valid UTF-8 (messages end up in JSON). */
static void test_cut_utf8(void **state)
{
	(void)state;
	/* "é" is 2 bytes, "€" 3, "𝄞" 4: try every alignment of each against the cut. */
	static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e"};
	for (size_t c = 0; c < 3; c++) {
		for (size_t shift = 0; shift < 4; shift++) {
			char key[2 * METRO_YPATH_MAX];
			size_t len = 0;
			while (len < shift)
				key[len++] = 'a';
			size_t cl = strlen(chars[c]);
			while (len + cl < sizeof key) {
				memcpy(key + len, chars[c], cl);
				len += cl;
			}
			key[len] = '\0';
			struct metro_ypath p = metro_ykey("w", key);
			size_t n = strlen(p.s);
			assert_true(n <= METRO_YPATH_MAX - 1);
			assert_true(n >=
				    METRO_YPATH_MAX - 1 - 3); /* at most one character dropped */
			assert_string_equal(p.s + n - 3, "...");
			assert_true(utf8_ok(p.s));
			/* What is kept is the start of the path, whole characters only. */
			assert_memory_equal(p.s, "w.", 2);
			assert_memory_equal(p.s + 2, key, n - 3 - 2);
		}
	}
}

/* metro_y_map names an unknown or missing key by its path; a key too long for one is cut
 * visibly in the message. */
static void test_map_messages(void **state)
{
	(void)state;
	char *k = repeat('k', 300);
	char text[512];
	snprintf(text, sizeof text, "a: 1\nb: 2\n%s: 3\na: 4\n", k);
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	assert_int_equal(metro_yfile_load_buffer("m.yaml", (const unsigned char *)text,
						 strlen(text), &d, &f),
			 0);
	static const struct metro_yfield fields[] = {{"a", 1}, {"b", 0}, {"c", 1}};
	yaml_node_t *v[3];
	assert_int_equal(metro_y_map(f, metro_y_root(f), "rigs[0]", fields, 3, v), METRO_E_INVAL);
	assert_int_equal(d.n, 3);
	char want[1024];
	snprintf(want, sizeof want, "m.yaml:3:1: unknown key '%s' (expected one of: a, b, c)",
		 metro_ykey("rigs[0]", k).s);
	assert_string_equal(d.msgs[0], want);
	assert_non_null(strstr(d.msgs[0], "kkk...' (expected"));
	assert_string_equal(d.msgs[1], "m.yaml:4:1: duplicate key 'rigs[0].a' (first at line 1)");
	assert_string_equal(d.msgs[2], "m.yaml:1:1: missing required key 'rigs[0].c'");
	metro_yfile_destroy(&f);
	metro_diag_free(&d);

	/* At the top level the path is the key alone. */
	metro_diag_init(&d);
	assert_int_equal(
		metro_yfile_load_buffer("t.yaml", (const unsigned char *)"z: 1\n", 5, &d, &f), 0);
	assert_int_equal(metro_y_map(f, metro_y_root(f), "", fields, 3, v), METRO_E_INVAL);
	assert_string_equal(d.msgs[0], "t.yaml:1:1: unknown key 'z' (expected one of: a, b, c)");
	assert_string_equal(d.msgs[1], "t.yaml:1:1: missing required key 'a'");
	metro_yfile_destroy(&f);
	metro_diag_free(&d);
	free(k);
}

/* The digest a loader records is of exactly the bytes parsed (the value below is coreutils'
 * `printf 'a: 1\n' | sha256sum`), set whether the text came from a file or a buffer. */
static void test_sha256_of_parsed_bytes(void **state)
{
	(void)state;
	static const char want[] =
		"37b128c59f1f5097f73f82691cb519f1f568667faab5ced1b4ab979d36837eae";
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	assert_int_equal(
		metro_yfile_load_buffer("a.yaml", (const unsigned char *)"a: 1\n", 5, &d, &f), 0);
	assert_string_equal(f->sha256, want);
	metro_yfile_destroy(&f);
	char path[] = "/tmp/test_yfile.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 1\n", 5), 5);
	close(fd);
	assert_int_equal(metro_yfile_load(path, &d, &f), 0);
	unlink(path);
	assert_string_equal(f->sha256, want);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_strings), cmocka_unit_test(test_two_in_one_call),
		cmocka_unit_test(test_limit),	      cmocka_unit_test(test_cut_utf8),
		cmocka_unit_test(test_map_messages),  cmocka_unit_test(test_sha256_of_parsed_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
