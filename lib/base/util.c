#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void oom(size_t n)
{
	fprintf(stderr, "<2>metro: out of memory allocating %zu bytes\n", n);
	abort();
}

void *metro_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *metro_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *metro_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *metro_strdup(const char *s)
{
	return metro_strndup(s, strlen(s));
}

char *metro_strndup(const char *s, size_t n)
{
	char *p = metro_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *metro_vasprintf(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(aq);
	if (n < 0)
		n = 0;
	char *p = metro_malloc((size_t)n + 1);
	/* ap (and so aq) is initialised by the caller; the analyzer cannot see that. */
	vsnprintf(p, (size_t)n + 1, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	return p;
}

char *metro_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = metro_vasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void metro_freep(void *pp)
{
	void **p = pp;
	free(*p);
	*p = NULL;
}

size_t metro_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int metro_read_file(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	if (len)
		*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	size_t cap = 4096, n = 0;
	char *buf = metro_malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				free(buf);
				fclose(f);
				return METRO_E_RANGE;
			}
			cap *= 2;
			buf = metro_realloc(buf, cap + 1);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	int err = ferror(f) ? METRO_E_IO : METRO_OK;
	fclose(f);
	if (!err && n > max)
		err = METRO_E_RANGE;
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return METRO_OK;
}

char *metro_path_join(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0)
		return metro_strdup(path);
	return metro_asprintf("%s/%s", dir, path);
}

char *metro_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return metro_strdup(".");
	if (slash == path)
		return metro_strdup("/");
	return metro_strndup(path, (size_t)(slash - path));
}
