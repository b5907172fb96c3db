/*
 * queue.c: the durable queue directory of sync-push.  Owns its on-disk
 * format and every rule that keeps it safe across crashes:
 *
 *   QUEUE/VERSION          "sync-push queue 1", written last when the queue
 *                          is created (so a half-created queue is not one)
 *   QUEUE/changes.ndjson   append-only journal of envelopes, one per line,
 *                          exactly as enqueued; a change is named by its line
 *   QUEUE/outcomes.ndjson  append-only journal of outcomes, one JSON object
 *                          per line: {"line", "change_id", "state", "status",
 *                          "replayed", "at", "result"}
 *   QUEUE/flush.lock       flocked by the one flush allowed at a time (holds
 *                          its pid, for the message to a second one)
 *
 * Appends are one write() of whole lines followed by fsync(); a line without
 * its newline is the remains of an interrupted append, never reported as
 * done: readers ignore it and the next writer truncates it away.  The
 * changes journal is flocked exclusively by enqueue and shared while read.
 * The state of a change is its latest outcome, else pending.
 */
#include "sync-push.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_MAGIC "sync-push queue 1\n"

static const char *const state_names[ST__COUNT] = {"pending", "synced",
                                                   "review_required",
                                                   "rejected", "not_found"};

/* The name of a state, as in status output and the outcomes journal. */
const char *
state_name(ChangeState st)
{
    return st < ST__COUNT ? state_names[st] : "?";
}

/* The state a server result status leads to (unknown ones need attention). */
ChangeState
state_from_status(const char *status)
{
    if (strcmp(status, "merged") == 0 || strcmp(status, "created") == 0 ||
        strcmp(status, "deleted") == 0)
        return ST_SYNCED;
    if (strcmp(status, "review_required") == 0)
        return ST_REVIEW_REQUIRED;
    if (strcmp(status, "not_found") == 0)
        return ST_NOT_FOUND;
    return ST_REJECTED;
}

/* A state by name, or ST__COUNT. */
static ChangeState
state_from_name(const char *name)
{
    for (int i = 0; i < ST__COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (ChangeState) i;
    return ST__COUNT;
}

/* fsync a file or directory descriptor, saying what failed. */
static bool
sync_fd(Queue *q, int fd, const char *what)
{
    if (fsync(fd) != 0)
    {
        msg("queue \"%s\": could not fsync %s: %s", q->path, what,
            strerror(errno));
        return false;
    }
    return true;
}

/* fsync the directory that contains path (after creating path in it). */
static bool
sync_parent(const char *path)
{
    char *copy = xstrdup(path);
    int   fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool  ok = fd >= 0 && fsync(fd) == 0;

    if (!ok)
        msg("could not fsync the directory of \"%s\": %s", path,
            strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return ok;
}

/* Is the directory empty but for files a crashed creation may have left? */
static bool
dir_is_fresh(int dirfd)
{
    int            fd = dup(dirfd);
    DIR           *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    bool           fresh = true;

    if (d == NULL)
    {
        if (fd >= 0)
            close(fd);
        return false;
    }
    rewinddir(d);
    while ((e = readdir(d)) != NULL)
    {
        const char *n = e->d_name;

        if (strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
            strcmp(n, "changes.ndjson") != 0 &&
            strcmp(n, "outcomes.ndjson") != 0 &&
            strcmp(n, "flush.lock") != 0 && strncmp(n, "VERSION.tmp", 11) != 0)
            fresh = false;
    }
    closedir(d);
    return fresh;
}

/* Create the files of a new queue in q->dirfd; VERSION last, then fsync. */
static bool
create_files(Queue *q)
{
    static const char *const files[] = {"changes.ndjson", "outcomes.ndjson",
                                        "flush.lock"};
    char                     tmp[64];
    int                      fd;
    ssize_t                  n;

    if (!dir_is_fresh(q->dirfd))
    {
        msg("\"%s\" is not empty and not a sync-push queue", q->path);
        return false;
    }
    for (int i = 0; i < 3; i++)
    {
        fd = openat(q->dirfd, files[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || fsync(fd) != 0)
        {
            msg("queue \"%s\": could not create %s: %s", q->path, files[i],
                strerror(errno));
            if (fd >= 0)
                close(fd);
            return false;
        }
        close(fd);
    }
    snprintf(tmp, sizeof tmp, "VERSION.tmp.%ld", (long) getpid());
    fd = openat(q->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
    {
        msg("queue \"%s\": could not create VERSION: %s", q->path,
            strerror(errno));
        return false;
    }
    n = write(fd, QUEUE_MAGIC, strlen(QUEUE_MAGIC));
    if (n != (ssize_t) strlen(QUEUE_MAGIC) || fsync(fd) != 0)
    {
        msg("queue \"%s\": could not write VERSION: %s", q->path,
            n < 0 ? strerror(errno) : "short write");
        close(fd);
        return false;
    }
    close(fd);
    /* the files must be durable before VERSION says the queue exists */
    if (!sync_fd(q, q->dirfd, "the queue directory"))
        return false;
    if (renameat(q->dirfd, tmp, q->dirfd, "VERSION") != 0)
    {
        msg("queue \"%s\": could not create VERSION: %s", q->path,
            strerror(errno));
        return false;
    }
    return sync_fd(q, q->dirfd, "the queue directory");
}

/* Check VERSION; with create, make a missing queue.  Caller holds the dir flock. */
static bool
check_version(Queue *q, bool create)
{
    char    buf[64];
    int     fd = openat(q->dirfd, "VERSION", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
    {
        if (errno == ENOENT && create)
            return create_files(q);
        msg("\"%s\" is not a sync-push queue (%s VERSION file)", q->path,
            errno == ENOENT ? "no" : "unreadable");
        return false;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0 || (size_t) n != strlen(QUEUE_MAGIC) ||
        memcmp(buf, QUEUE_MAGIC, n) != 0)
    {
        msg("\"%s\" is not a sync-push queue of this version (VERSION file differs)",
            q->path);
        return false;
    }
    return true;
}

/* Open one journal or the lock file of the queue. */
static int
open_member(Queue *q, const char *name, int flags)
{
    int fd = openat(q->dirfd, name, flags | O_CLOEXEC, 0600);

    if (fd < 0)
        msg("queue \"%s\": could not open %s: %s", q->path, name,
            strerror(errno));
    return fd;
}

/*
 * Open the queue at path; with create, make the directory and its files if
 * missing (durably: files, then VERSION, each step fsynced).
 */
bool
queue_open(Queue *q, const char *path, bool create)
{
    memset(q, 0, sizeof *q);
    q->path = xstrdup(path);
    q->dirfd = q->changes_fd = q->outcomes_fd = q->flush_fd = -1;
    if (create)
    {
        if (mkdir(path, 0700) == 0)
        {
            if (!sync_parent(path))
                return false;
        }
        else if (errno != EEXIST)
        {
            msg("could not create queue directory \"%s\": %s", path,
                strerror(errno));
            return false;
        }
    }
    q->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0)
    {
        if (errno == ENOENT)
            msg("queue \"%s\" does not exist", path);
        else
            msg("could not open queue \"%s\": %s", path, strerror(errno));
        return false;
    }
    if (flock(q->dirfd, LOCK_EX) != 0)
    {
        msg("could not lock queue \"%s\": %s", path, strerror(errno));
        return false;
    }
    if (!check_version(q, create))
        return false;
    flock(q->dirfd, LOCK_UN);
    q->changes_fd = open_member(q, "changes.ndjson", O_RDWR | O_APPEND);
    q->outcomes_fd = open_member(q, "outcomes.ndjson", O_RDWR | O_APPEND);
    q->flush_fd = open_member(q, "flush.lock", O_RDWR | O_CREAT);
    return q->changes_fd >= 0 && q->outcomes_fd >= 0 && q->flush_fd >= 0;
}

/* Read all of fd from offset 0 into a NUL-terminated buffer. */
static char *
read_all(Queue *q, int fd, const char *name, size_t *len)
{
    struct stat st;
    size_t      cap, n = 0;
    char       *buf;

    if (fstat(fd, &st) != 0)
    {
        msg("queue \"%s\": could not stat %s: %s", q->path, name,
            strerror(errno));
        return NULL;
    }
    cap = (size_t) st.st_size + 1;
    buf = xmalloc(cap);
    for (;;)
    {
        ssize_t r;

        if (n + 1 >= cap)
            buf = xrealloc(buf, cap *= 2);
        r = pread(fd, buf + n, cap - n - 1, (off_t) n);
        if (r < 0)
        {
            if (errno == EINTR)
                continue;
            msg("queue \"%s\": could not read %s: %s", q->path, name,
                strerror(errno));
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        n += r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * Truncate an incomplete last line (no newline: an append that was cut
 * short and never reported as done).  The caller holds the writers' lock.
 */
static bool
repair_tail(Queue *q, int fd, const char *name)
{
    struct stat st;
    char        buf[4096];
    off_t       end, keep = 0;

    if (fstat(fd, &st) != 0)
    {
        msg("queue \"%s\": could not stat %s: %s", q->path, name,
            strerror(errno));
        return false;
    }
    end = st.st_size;
    if (end == 0)
        return true;
    while (end > 0)
    {
        size_t  chunk = end > (off_t) sizeof buf ? sizeof buf : (size_t) end;
        ssize_t r = pread(fd, buf, chunk, end - (off_t) chunk);
        size_t  i;

        if (r != (ssize_t) chunk)
        {
            msg("queue \"%s\": could not read %s: %s", q->path, name,
                r < 0 ? strerror(errno) : "short read");
            return false;
        }
        for (i = chunk; i > 0 && buf[i - 1] != '\n'; i--)
            ;
        if (i > 0)
        {
            keep = end - (off_t) chunk + (off_t) i;
            break;
        }
        end -= (off_t) chunk;
    }
    if (keep == st.st_size)
        return true;
    if (ftruncate(fd, keep) != 0)
    {
        msg("queue \"%s\": could not truncate %s: %s", q->path, name,
            strerror(errno));
        return false;
    }
    msg("queue \"%s\": dropped the incomplete last line of %s (%lld bytes left by an interrupted write)",
        q->path, name, (long long) (st.st_size - keep));
    return sync_fd(q, fd, name);
}

/* Append buf (whole lines) with one write(), then fsync; undo on failure. */
static bool
append_durably(Queue *q, int fd, const char *name, const char *buf, size_t len)
{
    struct stat st;
    size_t      done = 0;

    if (fstat(fd, &st) != 0)
    {
        msg("queue \"%s\": could not stat %s: %s", q->path, name,
            strerror(errno));
        return false;
    }
    while (done < len)
    {
        ssize_t w = write(fd, buf + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
        {
            msg("queue \"%s\": could not write %s: %s", q->path, name,
                w < 0 ? strerror(errno) : "no progress");
            if (ftruncate(fd, st.st_size) == 0)
                (void) fsync(fd);
            return false;
        }
        done += (size_t) w;
    }
    if (fsync(fd) != 0)
    {
        msg("queue \"%s\": could not fsync %s: %s", q->path, name,
            strerror(errno));
        if (ftruncate(fd, st.st_size) == 0)
            (void) fsync(fd);
        return false;
    }
    return true;
}

/* Append envelope lines to the changes journal under the enqueue lock. */
bool
queue_append_changes(Queue *q, const char *buf, size_t len)
{
    bool ok;

    if (flock(q->changes_fd, LOCK_EX) != 0)
    {
        msg("could not lock queue \"%s\": %s", q->path, strerror(errno));
        return false;
    }
    ok = repair_tail(q, q->changes_fd, "changes.ndjson") &&
         append_durably(q, q->changes_fd, "changes.ndjson", buf, len);
    flock(q->changes_fd, LOCK_UN);
    return ok;
}

/* Become the queue's only flush (held until exit); fail if another one is. */
bool
queue_lock_flush(Queue *q)
{
    char    pid[32];
    ssize_t n;

    if (flock(q->flush_fd, LOCK_EX | LOCK_NB) != 0)
    {
        if (errno != EWOULDBLOCK)
        {
            msg("could not lock queue \"%s\": %s", q->path, strerror(errno));
            return false;
        }
        n = pread(q->flush_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        msg("queue \"%s\" is being flushed by another sync-push (pid %s)",
            q->path, *pid ? pid : "unknown");
        return false;
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(q->flush_fd, 0) != 0 || pwrite(q->flush_fd, pid, n, 0) != n)
        msg("queue \"%s\": could not write the pid to flush.lock: %s", q->path,
            strerror(errno));
    return true;
}

/* Drop an incomplete last outcome line (a flush holds the flush lock). */
bool
queue_repair_outcomes(Queue *q)
{
    return repair_tail(q, q->outcomes_fd, "outcomes.ndjson");
}

/* Fill entry e from the stored envelope at line; false if it does not parse. */
static bool
load_entry(QueueEntry *e, long line, const char *text, size_t len)
{
    bool         ok;
    json_object *obj = json_parse_text(text, len, &ok);
    json_object *v;
    const char  *s;

    e->line = line;
    e->text = xmalloc(len + 1);
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    e->len = len;
    e->state = ST_PENDING;
    e->queued_at = 0;
    e->change_id[0] = '\0';
    ok = ok && json_object_object_get_ex(obj, "change_id", &v) &&
         (s = json_object_get_string(v)) != NULL && uuid_check(s);
    if (ok)
        uuid_lower(s, e->change_id);
    ok = ok && json_object_object_get_ex(obj, "queued_at", &v) &&
         (s = json_object_get_string(v)) != NULL &&
         iso_timestamp_parse(s, &e->queued_at);
    json_object_put(obj);
    return ok;
}

/* Read the changes journal (complete lines) into q->entries. */
static bool
load_changes(Queue *q)
{
    size_t len, cap = 0;
    char  *buf, *p, *nl;
    long   line = 0;
    bool   ok = true;

    if (flock(q->changes_fd, LOCK_SH) != 0)
    {
        msg("could not lock queue \"%s\": %s", q->path, strerror(errno));
        return false;
    }
    buf = read_all(q, q->changes_fd, "changes.ndjson", &len);
    flock(q->changes_fd, LOCK_UN);
    if (buf == NULL)
        return false;
    for (p = buf;
         ok && (nl = memchr(p, '\n', len - (size_t) (p - buf))) != NULL;
         p = nl + 1)
    {
        if (q->n_entries == cap)
        {
            cap = cap ? cap * 2 : 64;
            q->entries = xrealloc(q->entries, cap * sizeof *q->entries);
        }
        line++;
        if (!load_entry(&q->entries[q->n_entries++], line, p,
                        (size_t) (nl - p)))
        {
            msg("queue \"%s\" is damaged: changes.ndjson line %ld is not a valid envelope",
                q->path, line);
            ok = false;
        }
    }
    free(buf);
    return ok;
}

/* Apply one outcome record; false if it is damaged. */
static bool
load_outcome(Queue *q, const char *text, size_t len)
{
    bool         ok;
    json_object *obj = json_parse_text(text, len, &ok);
    json_object *v;
    long         line = 0;
    const char  *cid = NULL;
    ChangeState  st = ST__COUNT;

    if (ok && json_object_object_get_ex(obj, "line", &v) &&
        json_object_is_type(v, json_type_int))
        line = (long) json_object_get_int64(v);
    if (ok && json_object_object_get_ex(obj, "change_id", &v))
        cid = json_object_get_string(v);
    if (ok && json_object_object_get_ex(obj, "state", &v) &&
        json_object_get_string(v))
        st = state_from_name(json_object_get_string(v));
    ok = ok && line >= 1 && cid != NULL && st != ST__COUNT;
    /* an outcome for a line we did not read (enqueued since) is not ours to apply */
    if (ok && (size_t) line <= q->n_entries)
    {
        QueueEntry *e = &q->entries[line - 1];

        if (strcasecmp(e->change_id, cid) != 0)
            ok = false;
        else
            e->state = st;
    }
    json_object_put(obj);
    return ok;
}

/* Read the outcomes journal (complete lines) and set each entry's state. */
static bool
load_outcomes(Queue *q)
{
    size_t len;
    char  *buf = read_all(q, q->outcomes_fd, "outcomes.ndjson", &len);
    char  *p, *nl;
    long   line = 0;
    bool   ok = true;

    if (buf == NULL)
        return false;
    for (p = buf;
         ok && (nl = memchr(p, '\n', len - (size_t) (p - buf))) != NULL;
         p = nl + 1)
    {
        line++;
        if (!load_outcome(q, p, (size_t) (nl - p)))
        {
            msg("queue \"%s\" is damaged: outcomes.ndjson line %ld does not match the changes",
                q->path, line);
            ok = false;
        }
    }
    free(buf);
    return ok;
}

/* Load every change and its state (latest outcome, else pending). */
bool
queue_load(Queue *q)
{
    return load_changes(q) && load_outcomes(q);
}

/* Append outcome lines durably (one write, fsync). */
bool
queue_append_outcomes(Queue *q, const char *buf, size_t len)
{
    return append_durably(q, q->outcomes_fd, "outcomes.ndjson", buf, len);
}

/* Close the queue's files (releasing its locks) and free its memory. */
void
queue_close(Queue *q)
{
    if (q->changes_fd >= 0)
        close(q->changes_fd);
    if (q->outcomes_fd >= 0)
        close(q->outcomes_fd);
    if (q->flush_fd >= 0)
        close(q->flush_fd);
    if (q->dirfd >= 0)
        close(q->dirfd);
    for (size_t i = 0; i < q->n_entries; i++)
        free(q->entries[i].text);
    free(q->entries);
    free(q->path);
    memset(q, 0, sizeof *q);
    q->dirfd = q->changes_fd = q->outcomes_fd = q->flush_fd = -1;
}
