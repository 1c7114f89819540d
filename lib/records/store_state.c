/* store_state.c — the record store's memory of itself, outside the database, and the watch on
 * its file (docs/records.md "A history never silently restarts").
 *
 * A small state file beside the station key (records.key -> records.state) holds where the
 * chain stood at the last checkpoint: the chain record's seq and hash, and the checkpoint's
 * epoch.  It is rewritten atomically (temporary file, fsync, rename, fsync of the directory)
 * at every open and every checkpoint.  At open:
 * - a database that is missing where the state file says a history existed is refused (the
 *   open creates nothing), unless the operator asked for a new store (`metrod --init-store`),
 *   and then the new store's first audit event records the history it replaces;
 * - a database whose chain does not contain the recorded head (an older copy, or another
 *   database) is refused.
 * While open, the file the store was opened on is watched: unlinked, or replaced by another
 * file under its name, the store fails closed.  metro_store_check_file() looks (the daemon
 * calls it every second or two) and every commit looks first.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "util.h"

#define STATE_MAGIC "metrod record store state 1"

struct state {
	int64_t chain_seq;
	char chain_head[65];
	int64_t checkpoint_epoch;
	char database[512];
	char updated[40];
};

/* The state file of a key path: its ".key" replaced by ".state" (or ".state" appended). */
char *st_state_path(const char *keyp)
{
	size_t n = strlen(keyp);
	if (n > 4 && !strcmp(keyp + n - 4, ".key"))
		return metro_asprintf("%.*s.state", (int)(n - 4), keyp);
	return metro_asprintf("%s.state", keyp);
}

/* 0 and *st; METRO_E_NOTFOUND when there is no state file; METRO_E_INVAL (message in err)
 * when it cannot be read. */
static int state_read(const char *path, struct state *st, char *err, size_t cap)
{
	memset(st, 0, sizeof *st);
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return METRO_E_NOTFOUND;
		snprintf(err, cap, "%s: cannot read: %s", path, strerror(errno));
		return METRO_E_IO;
	}
	char line[640];
	int magic = 0, seq = 0, head = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, STATE_MAGIC))
			magic = 1;
		else if (sscanf(line, "chain_seq %" SCNd64, &st->chain_seq) == 1)
			seq = 1;
		else if (sscanf(line, "chain_head %64[0-9a-f]", st->chain_head) == 1)
			head = strlen(st->chain_head) == 64;
		else if (sscanf(line, "checkpoint_epoch %" SCNd64, &st->checkpoint_epoch) == 1)
			;
		else if (!strncmp(line, "database ", 9))
			metro_strlcpy(st->database, line + 9, sizeof st->database);
		else if (!strncmp(line, "updated ", 8))
			metro_strlcpy(st->updated, line + 8, sizeof st->updated);
	}
	fclose(f);
	if (!magic || !seq || !head || st->chain_seq < 0) {
		snprintf(err, cap,
			 "%s: not a record store state file (it needs the lines \"%s\", "
			 "\"chain_seq N\" and \"chain_head <64 hex digits>\")",
			 path, STATE_MAGIC);
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

/* The chain's last record: its seq (0 for an empty chain) and hash. */
static int chain_head(struct metro_store *s, int64_t *seq, char hex[65])
{
	*seq = 0;
	memset(hex, '0', 64);
	hex[64] = '\0';
	char *h = NULL;
	int err = st_query_int(s, seq, "SELECT coalesce(max(seq), 0) FROM chain", "");
	if (err || *seq == 0)
		return err;
	err = st_query_text(s, &h, "SELECT hash FROM chain WHERE seq = ?", "l", *seq);
	if (!err && h)
		metro_strlcpy(hex, h, 65);
	free(h);
	return err;
}

int st_state_write(struct metro_store *s)
{
	if (!s->state_path || s->readonly || s->failed[0])
		return METRO_OK;
	int64_t seq = 0, epoch = 0;
	char head[65], now[40];
	int err = chain_head(s, &seq, head);
	if (!err)
		err = st_query_int(s, &epoch, "SELECT coalesce(max(epoch), 0) FROM checkpoints",
				   "");
	if (err)
		return err;
	st_now_iso(now);
	char *tmp = metro_asprintf("%s.tmp", s->state_path);
	FILE *f = fopen(tmp, "w");
	int ok = f != NULL;
	if (f) {
		ok = fprintf(f,
			     "%s\n# where the hash chain of %s stood at its last checkpoint; "
			     "metrod refuses a database that is missing or does not contain this "
			     "head (docs/records.md)\ndatabase %s\nchain_seq %" PRId64
			     "\nchain_head %s\ncheckpoint_epoch %" PRId64 "\nupdated %s\n",
			     STATE_MAGIC, s->path, s->path, seq, head, epoch, now) > 0;
		ok = fflush(f) == 0 && ok;
		ok = fsync(fileno(f)) == 0 && ok;
		ok = fclose(f) == 0 && ok;
	}
	if (ok)
		ok = rename(tmp, s->state_path) == 0;
	if (ok) {
		char *dir = metro_strdup(s->state_path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	if (!ok) {
		err = st_refuse(s, METRO_E_IO, "%s: cannot write the store's state file: %s",
				s->state_path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return err;
}

int st_state_before_open(struct metro_store *s, const struct metro_store_opts *o, const char *keyp,
			 char *err, size_t cap)
{
	struct stat sb;
	s->state_path = st_state_path(keyp);
	s->existed = stat(o->path, &sb) == 0;
	struct state st;
	int rc = state_read(s->state_path, &st, err, cap);
	if (rc == METRO_E_NOTFOUND)
		return METRO_OK; /* a first start (or a store older than its state file) */
	if (rc)
		return rc;
	if (s->existed && o->init_store) {
		snprintf(err, cap,
			 "%s exists: --init-store starts a new record store only where there is "
			 "none (move the database away first, and keep it)",
			 o->path);
		return METRO_E_EXISTS;
	}
	if (!s->existed && !o->init_store && st.chain_seq > 0) {
		snprintf(
			err, cap,
			"%s is missing, but its state file %s says its history reached chain "
			"record %" PRId64 " (head %.16s…, checkpoint %" PRId64
			", %s): restore the database from its backup; to start a new, empty record "
			"store instead, run metrod --init-store (the new store records the history "
			"it replaces)",
			o->path, s->state_path, st.chain_seq, st.chain_head, st.checkpoint_epoch,
			st.updated[0] ? st.updated : "no date");
		return METRO_E_STATE;
	}
	s->prior = metro_calloc(1, sizeof *s->prior);
	s->prior->chain_seq = st.chain_seq;
	metro_strlcpy(s->prior->chain_head, st.chain_head, sizeof s->prior->chain_head);
	s->prior->checkpoint_epoch = st.checkpoint_epoch;
	metro_strlcpy(s->prior->database, st.database, sizeof s->prior->database);
	return METRO_OK;
}

int st_state_after_open(struct metro_store *s, const struct metro_store_opts *o, char *err,
			size_t cap)
{
	int rc = METRO_OK;
	if (s->prior && s->existed) {
		/* The recorded head must be in this database's chain, with its hash. */
		char *h = NULL;
		int64_t last = 0;
		st_query_int(s, &last, "SELECT coalesce(max(seq), 0) FROM chain", "");
		if (s->prior->chain_seq > 0)
			st_query_text(s, &h, "SELECT hash FROM chain WHERE seq = ?", "l",
				      s->prior->chain_seq);
		if (s->prior->chain_seq > last) {
			snprintf(err, cap,
				 "%s is older than its history: its chain ends at record %" PRId64
				 ", the state file %s says it reached %" PRId64
				 " (a restored old copy?): restore the latest backup",
				 o->path, last, s->state_path, s->prior->chain_seq);
			rc = METRO_E_STATE;
		} else if (s->prior->chain_seq > 0 &&
			   (!h || strcmp(h, s->prior->chain_head) != 0)) {
			snprintf(err, cap,
				 "%s is not the database of this station's history: its chain "
				 "record "
				 "%" PRId64 " is %.16s…, the state file %s says %.16s…",
				 o->path, s->prior->chain_seq, h ? h : "missing", s->state_path,
				 s->prior->chain_head);
			rc = METRO_E_STATE;
		}
		free(h);
	}
	if (!rc && (!s->existed || o->init_store) && (s->prior || o->init_store)) {
		/* A new store where a history existed (or was asked for): said in its records. */
		json_t *old =
			s->prior ? json_pack("{sssIsssI}", "database", s->prior->database,
					     "chain_seq", (json_int_t)s->prior->chain_seq,
					     "chain_head", s->prior->chain_head, "checkpoint_epoch",
					     (json_int_t)s->prior->checkpoint_epoch)
				 : NULL;
		json_t *nw = json_pack("{ss}", "database", o->path);
		rc = metro_store_tx_begin(s);
		if (!rc)
			rc = st_tx_end(s, st_audit_event(s, "metrod", "store.initialised", "store",
							 old, nw,
							 "metrod --init-store: a new record store; "
							 "the history it replaces is in `old`",
							 NULL));
		json_decref(old);
		json_decref(nw);
		if (rc)
			snprintf(err, cap, "%s: %s", o->path, s->errmsg);
		else
			metro_warn("store %s: a new record store was started (--init-store)%s",
				   o->path,
				   s->prior
					   ? "; the history it replaces is in its first audit event"
					   : "");
	}
	if (!rc && (rc = st_state_write(s)) != 0)
		snprintf(err, cap, "%s", s->errmsg);
	if (!rc) {
		s->watch_fd = open(o->path, O_RDONLY | O_CLOEXEC);
		struct stat sb;
		if (s->watch_fd < 0 || fstat(s->watch_fd, &sb)) {
			snprintf(err, cap, "%s: cannot watch the database file: %s", o->path,
				 strerror(errno));
			rc = METRO_E_IO;
		} else {
			s->dev = sb.st_dev;
			s->ino = sb.st_ino;
		}
	}
	return rc;
}

int metro_store_check_file(struct metro_store *s)
{
	if (s->readonly || s->watch_fd < 0)
		return METRO_OK;
	if (s->failed[0])
		return METRO_E_IO;
	struct stat open_sb, path_sb;
	const char *what = NULL;
	if (stat(s->path, &path_sb) != 0)
		what = errno == ENOENT ? "was deleted while the store had it open"
				       : "cannot be looked at";
	else if (path_sb.st_dev != s->dev || path_sb.st_ino != s->ino)
		what = "was replaced by another file while the store had it open";
	else if (fstat(s->watch_fd, &open_sb) == 0 && open_sb.st_nlink == 0)
		what = "was deleted while the store had it open";
	if (!what)
		return METRO_OK;
	snprintf(s->failed, sizeof s->failed,
		 "the database file %s %s: the record store refuses writes until metrod restarts",
		 s->path, what);
	metro_err("store %s failed closed: %s", s->path, s->failed);
	return st_refuse(s, METRO_E_IO, "%s", s->failed);
}
