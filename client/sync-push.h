/*
 * sync-push.h: declarations shared by the modules of sync-push, the client
 * that pushes a durable outbound queue of change envelopes to a server
 * running the sync_resolver extension.
 *
 *   util.c      messages, progress line, allocation, buffers, clocks, durations
 *   envelope.c  strict JSON syntax check and validation of change envelopes
 *   queue.c     the queue directory: journals, locks, durability, states
 *   pgconn.c    libpq: connecting, classifying failures, backoff and deadline
 *   flush.c     the flush command: batches, outcomes, output
 *   sync-push.c main: options, the enqueue and status commands
 */
#ifndef SYNC_PUSH_H
#define SYNC_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#define SYNC_PUSH_VERSION "0.1"

/* Exit statuses (documented in client/README.md). */
#define EXIT_SYNCED      0 /* all synced */
#define EXIT_ATTENTION   1 /* some change needs attention */
#define EXIT_USAGE       2 /* usage, input, queue or setup error */
#define EXIT_UNREACHABLE 3 /* database not reachable within the deadline */

/* ---- util.c ---- */

extern const char *progname;

void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void
progress_update(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_end(void);
void set_progress_enabled(bool on);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

typedef struct StrBuf
{
    char  *data;
    size_t len;
    size_t cap;
} StrBuf;

void sb_init(StrBuf *sb);
void sb_append(StrBuf *sb, const char *s, size_t n);
void sb_puts(StrBuf *sb, const char *s);
void sb_printf(StrBuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_json_string(StrBuf *sb, const char *s);
void sb_free(StrBuf *sb);

double mono_now(void);
void   sleep_seconds(double s);
bool   parse_duration(const char *s, double bare_unit, double *seconds);
void   format_age(long seconds, char *buf, size_t len);
void   format_utc(time_t t, char *buf, size_t len);

/* ---- envelope.c ---- */

#define JSON_MAX_DEPTH 512

bool json_syntax_check(const char *s, size_t len, char *err, size_t errlen);
json_object *json_parse_text(const char *s, size_t len, bool *ok);
bool envelope_check(const char *line, size_t len, char *err, size_t errlen);
bool iso_timestamp_parse(const char *s, time_t *out);
bool uuid_check(const char *s);
void uuid_lower(const char *in, char out[37]);
const char *json_kind_word(json_object *o);

/* ---- queue.c ---- */

typedef enum ChangeState
{
    ST_PENDING,
    ST_SYNCED,
    ST_REVIEW_REQUIRED,
    ST_REJECTED,
    ST_NOT_FOUND,
    ST__COUNT
} ChangeState;

typedef struct QueueEntry
{
    long        line; /* 1-based line number in changes.ndjson */
    char       *text; /* the envelope as enqueued, without newline */
    size_t      len;
    char        change_id[37]; /* lower-case canonical form */
    time_t      queued_at;
    ChangeState state; /* latest outcome, else ST_PENDING */
} QueueEntry;

typedef struct Queue
{
    char *path;
    int   dirfd;
    int   changes_fd;  /* changes.ndjson: O_APPEND; flock = enqueue lock */
    int   outcomes_fd; /* outcomes.ndjson: O_APPEND */
    int   flush_fd;    /* flush.lock, flocked by a flush */
    QueueEntry *entries;
    size_t      n_entries;
} Queue;

const char *state_name(ChangeState st);
ChangeState state_from_status(const char *status);
bool        queue_open(Queue *q, const char *path, bool create);
bool        queue_append_changes(Queue *q, const char *buf, size_t len);
bool        queue_lock_flush(Queue *q);
bool        queue_repair_outcomes(Queue *q);
bool        queue_load(Queue *q);
bool        queue_append_outcomes(Queue *q, const char *buf, size_t len);
void        queue_close(Queue *q);

/* ---- pgconn.c ---- */

typedef struct PushOptions
{
    const char *conninfo;    /* --dbname, or NULL for PG* variables */
    double      retry_delay; /* first backoff cap, seconds */
    double      max_delay;   /* largest backoff cap, seconds */
    double      deadline;    /* give up after failing this long, seconds */
    long        statement_timeout_ms; /* -1 = leave the server's setting */
} PushOptions;

typedef enum SendOutcome
{
    SEND_OK,          /* *rows holds the results */
    SEND_RETRY,       /* transient (SR_ERR_RETRY of src/errclass.h) */
    SEND_TIMEOUT,     /* statement timeout or cancel (also transient) */
    SEND_DATA_ERROR,  /* the server refused the input (SR_ERR_DATA) */
    SEND_UNREACHABLE, /* connection refused for good (auth, no database) */
    SEND_FATAL        /* anything else: give up */
} SendOutcome;

typedef struct Pusher Pusher;

bool        conninfo_check(const char *conninfo);
Pusher     *pusher_new(const PushOptions *opt);
void        pusher_free(Pusher *p);
SendOutcome pusher_send_batch(Pusher *p, const char *json_array, int expect,
                              char ***rows, char *err, size_t errlen);
void        pusher_free_rows(char **rows, int n);
bool        pusher_wait(Pusher *p, const char *reason);
void        pusher_progressed(Pusher *p);

/* ---- flush.c / sync-push.c ---- */

typedef struct Options
{
    PushOptions push;
    int         batch_size;
    bool        json;
} Options;

int cmd_flush(const char *queue_path, const Options *opt);

#endif
