/* testutil.h — helpers shared by the cmocka test programs. */
#ifndef METRO_TESTUTIL_H
#define METRO_TESTUTIL_H

#include <stddef.h>

#include "yfile.h" /* struct metro_date */

/* chdir to the project root ($METRO_SRCDIR, else the current directory) so that test data
 * paths are stable; returns the root. */
const char *tu_srcdir(void);
/* Path of a built program in the build tree ($METRO_BUILD, default build/san). */
char *tu_build_path(const char *name);
/* Sorted list of files in dir whose names end with suffix; returns the count. */
size_t tu_list_dir(const char *dir, const char *suffix, char ***out);
void tu_free_list(char **list, size_t n);
/* A free TCP port on 127.0.0.1 (bind to port 0 and read it back). */
int tu_free_port(void);
/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); caller frees the string. */
char *tu_tmpdir(void);
/* The calendar date `days` from today (UTC): standards calibrated and due around now. */
struct metro_date tu_days_from_now(int days);
/* Recursively remove a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *dir);

/* The messages a bad-input file must produce, in order: from NAME.expect beside it (one per
 * line, without the file name) or from "# expect: LINE:COL: message" lines in the file (the
 * file's path is put in front) and "# expect-full: FILE:LINE:COL: message" lines (taken as
 * they are: a message about another file). */
size_t tu_expected_messages(const char *path, char ***out);

/* Start a program with stdout and stderr in files under dir (NAME.out, NAME.err) and wait
 * up to 15 s for its first line of stdout, copied into first (cap bytes).  Returns the pid,
 * or -1 (with what it said on stderr printed) when it did not start. */
int tu_spawn(const char *const argv[], const char *dir, const char *name, char *first, size_t cap);
/* SIGTERM a child and reap it (SIGKILL after 5 s). */
void tu_stop(int pid);

/* A loader under test: load path, report problems into diag, return 0 when the file was
 * accepted (the loaded object freed again) and an error when it was refused. */
struct metro_diag;
typedef int (*tu_loader)(const char *path, struct metro_diag *diag);
/* Run a bad-input corpus: every *.yaml of dir must be refused with exactly its expected
 * messages (tu_expected_messages).  Prints every mismatch and a summary; returns the number
 * of mismatches, or -1 when the directory has fewer than min_files files. */
int tu_check_corpus(const char *dir, size_t min_files, tu_loader load);

#endif
