/* metroctl_report_out.c — report and export files written whole or not at all
 * (metroctl_report_out.h, docs/reports.md "Output files").
 */
#include "metroctl_report_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* The directory part of a file name ("." for a bare name); the caller frees it. */
static char *dir_of(const char *target)
{
	const char *slash = strrchr(target, '/');
	if (!slash)
		return metro_strdup(".");
	if (slash == target)
		return metro_strdup("/");
	return metro_asprintf("%.*s", (int)(slash - target), target);
}

static int check_dir(const char *dir, const char *what)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "metroctl: %s: %s %s\n", dir, what,
			errno == ENOENT ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "metroctl: %s: %s is not a directory\n", dir, what);
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		fprintf(stderr, "metroctl: %s: %s is not writable: %s\n", dir, what,
			strerror(errno));
		return -1;
	}
	return 0;
}

int rpt_out_check(const char *target)
{
	struct stat st;
	if (!*target || target[strlen(target) - 1] == '/' ||
	    (stat(target, &st) == 0 && S_ISDIR(st.st_mode))) {
		fprintf(stderr, "metroctl: %s: is a directory, not a file name\n", target);
		return -1;
	}
	char *dir = dir_of(target);
	int rc = check_dir(dir, "the output directory");
	free(dir);
	return rc;
}

int rpt_out_check_dir(const char *dir)
{
	return check_dir(dir, "the output directory");
}

/* A fresh hidden temporary name beside target (the caller frees it). */
static char *temp_name(const char *target)
{
	static unsigned counter;
	const char *slash = strrchr(target, '/');
	char *dir = dir_of(target);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *name = metro_asprintf("%s/.%s.%ld-%u-%lx.part", dir, slash ? slash + 1 : target,
				    (long)getpid(), ++counter, (unsigned long)ts.tv_nsec);
	free(dir);
	return name;
}

/* Try make(name) under fresh temporary names beside target until one is free.  Returns the
 * name that worked (the caller frees it), or NULL with errno set. */
static char *temp_try(const char *target, int (*make)(const char *name, void *arg), void *arg)
{
	for (int tries = 0; tries < 100; tries++) {
		char *name = temp_name(target);
		if (make(name, arg) == 0)
			return name;
		int e = errno;
		free(name);
		errno = e;
		if (e != EEXIST)
			return NULL;
	}
	return NULL;
}

static int make_file(const char *name, void *arg)
{
	int *fd = arg;
	*fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	return *fd < 0 ? -1 : 0;
}

static int make_link(const char *name, void *arg)
{
	return linkat(AT_FDCWD, arg, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
}

int rpt_out_open(struct rpt_out *o, const char *target)
{
	memset(o, 0, sizeof *o);
	char *dir = dir_of(target);
	/* A file with no name until it is complete: a kill leaves nothing behind.  Linking it
	 * later goes through /proc/self/fd, so both must work, else a temporary name. */
	o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (o->fd >= 0) {
		snprintf(o->path, sizeof o->path, "/proc/self/fd/%d", o->fd);
		if (access(o->path, F_OK) != 0) {
			close(o->fd);
			o->fd = -1;
			errno = EOPNOTSUPP;
		}
	}
	if (o->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if ((o->tmp = temp_try(target, make_file, &o->fd)))
			metro_strlcpy(o->path, o->tmp, sizeof o->path);
		else
			o->fd = -1;
	}
	if (o->fd < 0) {
		fprintf(stderr, "metroctl: %s: cannot create a file in %s: %s\n", target, dir,
			strerror(errno));
		free(dir);
		memset(o, 0, sizeof *o);
		return -1;
	}
	free(dir);
	o->target = metro_strdup(target);
	return 0;
}

FILE *rpt_out_stream(struct rpt_out *o)
{
	if (!o->stream && !(o->stream = fdopen(o->fd, "w")))
		fprintf(stderr, "metroctl: %s: %s\n", o->target, strerror(errno));
	return o->stream;
}

/* Give the complete, synced file its name.  Returns 0 or -1 (errno set). */
static int name_it(struct rpt_out *o)
{
	if (!o->tmp) {
		if (linkat(AT_FDCWD, o->path, AT_FDCWD, o->target, AT_SYMLINK_FOLLOW) == 0)
			return 0; /* the target did not exist: it appears complete */
		if (errno != EEXIST)
			return -1;
		/* An older file is there: a temporary name, then a rename over it. */
		if (!(o->tmp = temp_try(o->target, make_link, o->path)))
			return -1;
	}
	return rename(o->tmp, o->target);
}

/* Close and free o; unlink its temporary name when it still has one. */
static void end(struct rpt_out *o)
{
	if (o->stream)
		fclose(o->stream);
	else if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->target);
	memset(o, 0, sizeof *o);
}

int rpt_out_commit(struct rpt_out *o)
{
	const char *what = NULL;
	errno = 0;
	if (o->stream && (fflush(o->stream) != 0 || ferror(o->stream)))
		what = "cannot write";
	else if (fsync(o->fd) != 0)
		what = "cannot write (fsync)";
	else if (name_it(o) != 0)
		what = "cannot put the file in place";
	if (what) {
		fprintf(stderr, "metroctl: %s: %s: %s; nothing written under that name\n",
			o->target, what, errno ? strerror(errno) : "write error");
		end(o);
		return -1;
	}
	free(o->tmp); /* renamed: the name is the target's now */
	o->tmp = NULL;
	/* The new name itself on the disk. */
	char *dir = dir_of(o->target);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL))
		fprintf(stderr, "metroctl: warning: %s: cannot sync the directory: %s\n", dir,
			strerror(errno));
	if (dfd >= 0)
		close(dfd);
	free(dir);
	end(o);
	return 0;
}

void rpt_out_discard(struct rpt_out *o)
{
	if (o->target)
		end(o);
}
