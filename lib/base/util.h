/* util.h — memory wrappers that abort on failure, and small string helpers.
 *
 * Following chrony: an allocation failure in a daemon of this size is not recoverable in any
 * useful way, and untested out-of-memory branches are worse than a clean abort that systemd
 * restarts.  So metro_malloc() and friends never return NULL.
 */
#ifndef METRO_UTIL_H
#define METRO_UTIL_H

#include <stdarg.h>
#include <stddef.h>

void *metro_malloc(size_t n);
void *metro_calloc(size_t nmemb, size_t size);
void *metro_realloc(void *p, size_t n);
char *metro_strdup(const char *s);
char *metro_strndup(const char *s, size_t n);
/* printf into a freshly allocated string; never NULL. */
char *metro_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *metro_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Free *pp and set it to NULL; takes NULL. */
void metro_freep(void *pp);

/* Copy at most size-1 bytes and terminate; returns strlen(src) like strlcpy. */
size_t metro_strlcpy(char *dst, const char *src, size_t size);

/* Read a whole file (at most max bytes) into a NUL-terminated buffer.  Returns 0, or
 * METRO_E_NOTFOUND / METRO_E_IO / METRO_E_RANGE (file larger than max). */
int metro_read_file(const char *path, size_t max, char **out, size_t *len);

/* Join a directory and a relative path (absolute paths are returned unchanged). */
char *metro_path_join(const char *dir, const char *path);
/* The directory part of a path ("." when there is none). */
char *metro_dirname(const char *path);

#define METRO_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
