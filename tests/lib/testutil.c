#include "testutil.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

const char *tu_srcdir(void)
{
	const char *d = getenv("METRO_SRCDIR");
	if (d && chdir(d) != 0) {
		perror(d);
		abort();
	}
	return d ? d : ".";
}

char *tu_build_path(const char *name)
{
	const char *b = getenv("METRO_BUILD");
	return metro_asprintf("%s/%s", b ? b : "build/san", name);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_list_dir(const char *dir, const char *suffix, char ***out)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 0;
	char **list = NULL;
	if (d) {
		struct dirent *e;
		size_t sl = strlen(suffix);
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				list = metro_realloc(list, cap * sizeof *list);
			}
			list[n++] = metro_asprintf("%s/%s", dir, e->d_name);
		}
		closedir(d);
	}
	if (n)
		qsort(list, n, sizeof *list, cmp);
	*out = list;
	return n;
}

void tu_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int tu_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	int port = ntohs(a.sin_port);
	close(fd);
	return port;
}

char *tu_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = metro_asprintf("%s/metrod-test-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	return tmpl;
}

void tu_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = metro_asprintf("%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			tu_rmtree(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}
