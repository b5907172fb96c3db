/*
 * pgconn.c: sync-push's side of the libpq connection.  Owns: connecting
 * (PG* variables or a --dbname conninfo), the session settings, sending one
 * batch through sync_resolver.sync_apply_batch, classifying every failure
 * as transient (retry) or not, and the retry policy: exponential backoff
 * with full jitter, capped at --max-delay, until --deadline has passed since
 * the first failure after the last success.
 *
 * Re-sending after any failure is safe: sync_apply_batch in autocommit is
 * one transaction, so an error means none of it happened; a batch whose
 * commit was not acknowledged (connection lost) is answered by replays.
 */
#include "sync-push.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../src/errclass.h"

#define BATCH_SQL                                                      \
    "SELECT b.r::text FROM sync_resolver.sync_apply_batch($1::jsonb) " \
    "WITH ORDINALITY AS b(r, n) ORDER BY b.n"

struct Pusher
{
    PushOptions opt;
    PGconn     *conn;
    double      failing_since; /* mono_now() of the first failure, or -1 */
    int         attempt;       /* retries since the last success */
};

/* Does s look like a conninfo string or URI (not a bare database name)? */
static bool
is_conninfo(const char *s)
{
    return strchr(s, '=') != NULL || strncmp(s, "postgresql://", 13) == 0 ||
           strncmp(s, "postgres://", 11) == 0;
}

/* Check a --dbname value up front, so that a typo is a usage error. */
bool
conninfo_check(const char *conninfo)
{
    char             *err = NULL;
    PQconninfoOption *opts;

    if (conninfo == NULL || !is_conninfo(conninfo))
        return true;
    opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL)
    {
        if (err)
        {
            err[strcspn(err, "\n")] = '\0';
            msg("invalid --dbname: %s", err);
            PQfreemem(err);
        }
        else
            msg("invalid --dbname (out of memory)");
        return false;
    }
    PQconninfoFree(opts);
    return true;
}

/* A new pusher (not connected yet). */
Pusher *
pusher_new(const PushOptions *opt)
{
    Pusher         *p = xmalloc(sizeof *p);
    struct timespec ts;

    p->opt = *opt;
    p->conn = NULL;
    p->failing_since = -1;
    p->attempt = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    srandom((unsigned) (ts.tv_nsec ^ (ts.tv_sec << 8) ^ getpid()));
    return p;
}

/* Close the connection and free the pusher. */
void
pusher_free(Pusher *p)
{
    if (p == NULL)
        return;
    if (p->conn)
        PQfinish(p->conn);
    free(p);
}

/* The first line of a libpq message, without "connection to ... failed: " and "FATAL:  ". */
static void
short_reason(const char *m, char *out, size_t len)
{
    const char *f = strstr(m, "failed: ");
    size_t      n;

    if (f != NULL && (size_t) (f - m) < strcspn(m, "\n"))
        m = f + 8;
    if (strncmp(m, "FATAL:  ", 8) == 0)
        m += 8;
    else if (strncmp(m, "ERROR:  ", 8) == 0)
        m += 8;
    n = strcspn(m, "\n");
    while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '\r'))
        n--;
    snprintf(out, len, "%.*s", (int) n, m);
}

/* Is a server FATAL at connection time one that goes away by itself? */
static bool
transient_fatal(const char *m)
{
    static const char *const pats[] = {"database system is",
                                       "too many clients",
                                       "connection slots are reserved",
                                       "terminating connection",
                                       "out of memory",
                                       "could not fork",
                                       NULL};

    for (int i = 0; pats[i]; i++)
        if (strstr(m, pats[i]) != NULL)
            return true;
    return false;
}

/*
 * Classify a failed statement: SQLSTATE decides, by the same table the
 * server uses to decide between raising an error and answering `rejected`
 * (src/errclass.h): what the server re-throws as retryable, we retry; a
 * server fault (XX, 58) stops the run with the changes left pending; a
 * dead connection retries.
 */
static SendOutcome
classify(Pusher *p, PGresult *res, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool dead = PQstatus(p->conn) != CONNECTION_OK;
    char why[400];

    if (primary == NULL)
        short_reason(res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn),
                     why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", primary);
    if (*why == '\0')
        short_reason(PQerrorMessage(p->conn), why, sizeof why);
    if (state != NULL)
        snprintf(err, errlen, "%s [SQLSTATE %s]", why, state);
    else
        snprintf(err, errlen, "%s%s", dead ? "connection lost: " : "", why);

    /* a lost session (connection error, shutdown, terminated): reconnect */
    if (dead ||
        (state &&
         (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) &&
         sr_errclass(state) == SR_ERR_RETRY))
    {
        PQfinish(p->conn);
        p->conn = NULL;
        return SEND_RETRY;
    }
    if (state == NULL)
        return SEND_FATAL;
    switch (sr_errclass(state))
    {
        case SR_ERR_RETRY:
            return strcmp(state, "57014") == 0 ? SEND_TIMEOUT : SEND_RETRY;
        case SR_ERR_DATA:
            /*
             * A whole batch failing with class 23 failed at its commit (a
             * deferred constraint): the server answered every change, so
             * it is no envelope's bad data; stop, the changes stay pending.
             */
            if (strncmp(state, "23", 2) == 0)
                return SEND_FATAL;
            return SEND_DATA_ERROR;
        case SR_ERR_SERVER:
        case SR_ERR_OTHER:
            break;
    }
    return SEND_FATAL;
}

/* Server notices and warnings go to stderr like our own messages. */
static void
notice(void *arg, const char *message)
{
    (void) arg;
    msg("server said: %.*s", (int) strcspn(message, "\n"), message);
}

/* Connect and set up the session, or say why not. */
static SendOutcome
connect_db(Pusher *p, char *err, size_t errlen)
{
    const char *keys[4], *vals[4];
    char        timeout[16], why[400];
    int         k = 0;
    PGresult   *res;

    if (getenv("PGCONNECT_TIMEOUT") == NULL)
    {
        /* a connection attempt must not outlast the deadline by much */
        double t = p->opt.deadline < 2    ? 2
                   : p->opt.deadline > 10 ? 10
                                          : p->opt.deadline;

        snprintf(timeout, sizeof timeout, "%d", (int) ceil(t));
        keys[k] = "connect_timeout", vals[k++] = timeout;
    }
    keys[k] = "fallback_application_name", vals[k++] = "sync-push";
    if (p->opt.conninfo)
        keys[k] = "dbname", vals[k++] = p->opt.conninfo;
    keys[k] = vals[k] = NULL;
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (p->conn == NULL)
    {
        snprintf(err, errlen, "could not connect: out of memory");
        return SEND_RETRY;
    }
    PQsetNoticeProcessor(p->conn, notice, NULL);
    if (PQstatus(p->conn) != CONNECTION_OK)
    {
        const char *m = PQerrorMessage(p->conn);
        bool transient = strstr(m, "FATAL:") == NULL || transient_fatal(m);

        short_reason(m, why, sizeof why);
        if (strcmp(why, "No such file or directory") == 0 ||
            strcmp(why, "Connection refused") == 0)
            snprintf(err, errlen, "no server is listening: %s", why);
        else
            snprintf(err, errlen, "could not connect: %s", why);
        PQfinish(p->conn);
        p->conn = NULL;
        return transient ? SEND_RETRY : SEND_UNREACHABLE;
    }
    if (p->opt.statement_timeout_ms >= 0)
    {
        char        sql[64];
        SendOutcome oc;

        snprintf(sql, sizeof sql, "SET statement_timeout = %ld",
                 p->opt.statement_timeout_ms);
        res = PQexec(p->conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
        {
            oc = classify(p, res, err, errlen);
            PQclear(res);
            return oc;
        }
        PQclear(res);
    }
    return SEND_OK;
}

/*
 * Send one batch (a JSON array of expect envelopes) through
 * sync_apply_batch, connecting first if need be.  On SEND_OK *rows holds
 * the expect results (JSON text, input order); otherwise err says why.
 */
SendOutcome
pusher_send_batch(Pusher *p, const char *json_array, int expect, char ***rows,
                  char *err, size_t errlen)
{
    PGresult   *res;
    SendOutcome oc;
    int         n;

    *rows = NULL;
    if (p->conn == NULL && (oc = connect_db(p, err, errlen)) != SEND_OK)
        return oc;
    res =
        PQexecParams(p->conn, BATCH_SQL, 1, NULL, &json_array, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        oc = classify(p, res, err, errlen);
        PQclear(res);
        return oc;
    }
    n = PQntuples(res);
    if (n != expect || PQnfields(res) != 1)
    {
        snprintf(err, errlen, "the server answered %d results for %d changes",
                 n, expect);
        PQclear(res);
        return SEND_FATAL;
    }
    *rows = xmalloc(sizeof(char *) * (size_t) n);
    for (int i = 0; i < n; i++)
        (*rows)[i] = xstrdup(PQgetvalue(res, i, 0));
    PQclear(res);
    return SEND_OK;
}

/* Free the rows of a successful batch. */
void
pusher_free_rows(char **rows, int n)
{
    if (rows == NULL)
        return;
    for (int i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
}

/*
 * After a transient failure (reason): sleep a random time up to
 * min(max_delay, retry_delay * 2^attempt), saying so on stderr.  Returns
 * false, without sleeping, once the deadline has passed.
 */
bool
pusher_wait(Pusher *p, const char *reason)
{
    double now = mono_now();
    double left, cap, delay;

    if (p->failing_since < 0)
        p->failing_since = now;
    left = p->opt.deadline - (now - p->failing_since);
    if (left <= 0)
        return false;
    cap = p->opt.retry_delay * pow(2, p->attempt);
    if (cap >= p->opt.max_delay)
        cap = p->opt.max_delay;
    else
        p->attempt++;
    delay = cap * ((double) random() / RAND_MAX);
    if (delay > left)
        delay = left;
    msg("waiting %.1f s for the database (%s), deadline in %.0f s", delay,
        reason, ceil(left));
    sleep_seconds(delay);
    return true;
}

/* A batch went through: the next failure starts a new backoff and deadline. */
void
pusher_progressed(Pusher *p)
{
    p->failing_since = -1;
    p->attempt = 0;
}
