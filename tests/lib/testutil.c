#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "error.h"
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

/* The expected messages of one bad file, with the file's path put in front. */
size_t tu_expected_messages(const char *path, char ***out)
{
	char *sidecar = metro_asprintf("%.*s.expect", (int)(strlen(path) - 5), path);
	char *text = NULL;
	size_t len, n = 0;
	int from_sidecar = metro_read_file(sidecar, 1 << 20, &text, &len) == 0;
	free(sidecar);
	if (!from_sidecar)
		if (metro_read_file(path, 1 << 24, &text, &len) != 0)
			abort();
	char **list = metro_calloc(256, sizeof *list);
	const char *p = text;
	const char *end = text + len;
	while (p < end && n < 256) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *body = NULL;
		size_t blen = 0;
		int full = 0;
		if (from_sidecar && l) {
			body = p;
			blen = l;
		} else if (!from_sidecar && l > 10 && !memcmp(p, "# expect: ", 10)) {
			body = p + 10;
			blen = l - 10;
		} else if (!from_sidecar && l > 15 && !memcmp(p, "# expect-full: ", 15)) {
			/* a message about another file (a profile the configuration uses) */
			body = p + 15;
			blen = l - 15;
			full = 1;
		}
		if (body) {
			char *b = metro_strndup(body, blen);
			int positioned = b[0] >= '0' && b[0] <= '9';
			list[n++] =
				full ? metro_strdup(b)
				     : metro_asprintf("%s%s%s", path, positioned ? ":" : ": ", b);
			free(b);
		}
		p += l + 1;
	}
	free(text);
	*out = list;
	return n;
}

int tu_spawn(const char *const argv[], const char *dir, const char *name, char *first, size_t cap)
{
	char *out = metro_asprintf("%s/%s.out", dir, name);
	char *err = metro_asprintf("%s/%s.err", dir, name);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	first[0] = '\0';
	for (int i = 0; !rc && i < 300 && !first[0]; i++) {
		char *text = NULL;
		if (!metro_read_file(out, 1 << 16, &text, NULL)) {
			char *nl = strchr(text, '\n');
			if (nl) {
				*nl = '\0';
				metro_strlcpy(first, text, cap);
			}
		}
		free(text);
		if (!first[0]) {
			struct timespec ts = {0, 50000000};
			nanosleep(&ts, NULL);
		}
	}
	if (rc || !first[0]) {
		char *text = NULL;
		metro_read_file(err, 1 << 16, &text, NULL);
		fprintf(stderr, "%s did not start: %s\n", argv[0], text ? text : "");
		free(text);
		if (!rc) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		pid = -1;
	}
	free(out);
	free(err);
	return (int)pid;
}

void tu_stop(int pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int tu_check_corpus(const char *dir, size_t min_files, tu_loader load)
{
	char **files;
	size_t nfiles = tu_list_dir(dir, ".yaml", &files);
	if (nfiles < min_files) {
		fprintf(stderr, "%s: %zu files, fewer than %zu\n", dir, nfiles, min_files);
		tu_free_list(files, nfiles);
		return -1;
	}
	int failures = 0;
	for (size_t i = 0; i < nfiles; i++) {
		char **want;
		size_t nwant = tu_expected_messages(files[i], &want);
		struct metro_diag d;
		metro_diag_init(&d);
		int err = load(files[i], &d);
		int ok = err == METRO_E_INVAL && nwant > 0 && d.n == nwant;
		for (size_t k = 0; ok && k < nwant; k++)
			ok = !strcmp(d.msgs[k], want[k]);
		if (!ok) {
			failures++;
			fprintf(stderr, "MISMATCH %s (err %d)\n  expected:\n", files[i], err);
			for (size_t k = 0; k < nwant; k++)
				fprintf(stderr, "    %s\n", want[k]);
			fprintf(stderr, "  got:\n");
			for (size_t k = 0; k < d.n; k++)
				fprintf(stderr, "    %s\n", d.msgs[k]);
		}
		metro_diag_free(&d);
		tu_free_list(want, nwant);
	}
	printf("%s: %zu files, %d mismatches\n", dir, nfiles, failures);
	tu_free_list(files, nfiles);
	return failures;
}

struct metro_date tu_days_from_now(int days)
{
	time_t t = time(NULL) + (time_t)days * 86400;
	struct tm tm;
	gmtime_r(&t, &tm);
	struct metro_date d = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
	return d;
}
