/*
 * flush.c: the flush command.  Owns: taking the queue's flush lock, cutting
 * the pending changes (in queue order) into batches, sending each batch
 * until it goes through or the deadline passes, recording every change's
 * outcome durably only after its batch committed, and reporting: a progress
 * line on a terminal, one line per change that needs attention (or, with
 * --json, one JSON object per change), a summary, and the exit status.
 *
 * A batch the server refuses as bad data (SQLSTATE classes 22, 54:
 * SR_ERR_DATA in src/errclass.h but 23, which a whole batch only raises at
 * its commit, a deferred constraint) is re-sent one change at a time, so that
 * one unreadable envelope is recorded as rejected (locally) instead of
 * blocking the queue.  A statement timeout halves the batch size for the
 * rest of the run.
 */
#include "sync-push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* What one flush run did, for the summary and the exit status. */
typedef struct FlushRun
{
    Queue         *q;
    const Options *opt;
    size_t         counts[ST__COUNT]; /* outcomes of this run by state */
    size_t         replayed;
    size_t         sent;
    size_t         n_todo;
    int            batches;
} FlushRun;

/* A member of a result object as a string, or NULL. */
static const char *
get_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Append one outcome record (a line of outcomes.ndjson) for entry e. */
static void
outcome_line(StrBuf *sb, const QueueEntry *e, ChangeState st,
             const char *status, bool replayed, json_object *result)
{
    char at[32];

    format_utc(time(NULL), at, sizeof at);
    sb_printf(sb,
              "{\"line\":%ld,\"change_id\":\"%s\",\"state\":\"%s\",\"status\":",
              e->line, e->change_id, state_name(st));
    sb_json_string(sb, status);
    sb_printf(sb, ",\"replayed\":%s,\"at\":\"%s\",\"result\":%s}\n",
              replayed ? "true" : "false", at,
              json_object_to_json_string_ext(result,
                                             JSON_C_TO_STRING_PLAIN |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Tell about one change's outcome: its JSON record, or a line if it needs attention. */
static void
report(FlushRun *run, const QueueEntry *e, ChangeState st, json_object *result,
       const char *record, size_t reclen)
{
    const char *s;

    if (run->opt->json)
    {
        /* exactly the record stored in outcomes.ndjson */
        fwrite(record, 1, reclen, stdout);
        return;
    }
    switch (st)
    {
        case ST_REJECTED:
            s = get_str(result, "reason");
            printf("line %ld: rejected: %s [change %s]\n", e->line,
                   s ? s : "(no reason given)", e->change_id);
            break;
        case ST_REVIEW_REQUIRED:
        {
            json_object *v;

            if (json_object_object_get_ex(result, "review_id", &v))
                printf("line %ld: review_required: review_id %s [change %s]\n",
                       e->line, json_object_get_string(v), e->change_id);
            else
                printf("line %ld: review_required [change %s]\n", e->line,
                       e->change_id);
        }
        break;
        case ST_NOT_FOUND:
            printf("line %ld: not_found: the row does not exist [change %s]\n",
                   e->line, e->change_id);
            break;
        default:
            break;
    }
}

/*
 * Record the results of a committed batch (rows[k] answers todo[k]):
 * check that they match, append all outcome lines with one durable write,
 * then update states, counts and output.  False (nothing recorded) if the
 * results do not match or the write fails.
 */
static bool
record_batch(FlushRun *run, QueueEntry **todo, char **rows, int n, char *err,
             size_t errlen)
{
    json_object **res = xmalloc(sizeof *res * (size_t) n);
    ChangeState  *st = xmalloc(sizeof *st * (size_t) n);
    size_t       *off = xmalloc(sizeof *off * (size_t) (n + 1));
    StrBuf        sb;
    bool          ok = true;
    int           k;

    sb_init(&sb);
    for (k = 0; k < n; k++)
        res[k] = NULL;
    for (k = 0; ok && k < n; k++)
    {
        bool         parsed;
        const char  *status, *cid;
        json_object *v;
        bool         replayed = false;

        res[k] = json_parse_text(rows[k], strlen(rows[k]), &parsed);
        status = parsed ? get_str(res[k], "status") : NULL;
        cid = parsed ? get_str(res[k], "change_id") : NULL;
        if (status == NULL || cid == NULL ||
            strcasecmp(cid, todo[k]->change_id) != 0)
        {
            snprintf(err, errlen,
                     "unexpected result from the server for line %ld: %.200s",
                     todo[k]->line, rows[k]);
            ok = false;
            break;
        }
        if (json_object_object_get_ex(res[k], "replayed", &v))
            replayed = json_object_get_boolean(v);
        st[k] = state_from_status(status);
        off[k] = sb.len;
        outcome_line(&sb, todo[k], st[k], status, replayed, res[k]);
        if (replayed && st[k] == ST_SYNCED)
            run->replayed++;
    }
    off[n] = sb.len;
    if (ok && !queue_append_outcomes(run->q, sb.data, sb.len))
    {
        snprintf(err, errlen, "could not record the outcomes");
        ok = false;
    }
    for (k = 0; ok && k < n; k++)
    {
        todo[k]->state = st[k];
        run->counts[st[k]]++;
        report(run, todo[k], st[k], res[k], sb.data + off[k],
               off[k + 1] - off[k]);
    }
    if (ok)
    {
        run->sent += (size_t) n;
        fflush(stdout);
    }
    for (k = 0; k < n; k++)
        json_object_put(res[k]);
    free(res);
    free(st);
    free(off);
    sb_free(&sb);
    return ok;
}

/* Record a change the server could not even read as rejected (locally). */
static bool
record_local_rejection(FlushRun *run, QueueEntry *e, const char *why,
                       char *err, size_t errlen)
{
    json_object *r = json_object_new_object();
    StrBuf       reason, row;
    char        *rows[1];
    bool         ok;

    sb_init(&reason);
    sb_init(&row);
    sb_printf(&reason, "the server could not read the envelope: %s", why);
    json_object_object_add(r, "status", json_object_new_string("rejected"));
    json_object_object_add(r, "change_id",
                           json_object_new_string(e->change_id));
    json_object_object_add(r, "reason", json_object_new_string(reason.data));
    json_object_object_add(r, "local", json_object_new_boolean(1));
    sb_puts(&row, json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
    rows[0] = row.data;
    ok = record_batch(run, &e, rows, 1, err, errlen);
    json_object_put(r);
    sb_free(&reason);
    sb_free(&row);
    return ok;
}

/* The JSON array text of n envelopes. */
static char *
batch_text(QueueEntry **todo, int n)
{
    StrBuf sb;

    sb_init(&sb);
    sb_puts(&sb, "[");
    for (int k = 0; k < n; k++)
    {
        if (k > 0)
            sb_puts(&sb, ",\n");
        sb_append(&sb, todo[k]->text, todo[k]->len);
    }
    sb_puts(&sb, "]");
    return sb.data;
}

/* Needing attention: review_required, rejected, not_found. */
static size_t
attention(const size_t *counts)
{
    return counts[ST_REVIEW_REQUIRED] + counts[ST_REJECTED] +
           counts[ST_NOT_FOUND];
}

/* The summary line on stdout (not with --json). */
static void
summary(const FlushRun *run)
{
    if (run->opt->json)
        return;
    printf("flushed %zu of %zu pending changes in %d batch%s: %zu synced (%zu replayed), "
           "%zu review_required, %zu rejected, %zu not_found; %zu pending\n",
           run->sent, run->n_todo, run->batches, run->batches == 1 ? "" : "es",
           run->counts[ST_SYNCED], run->replayed,
           run->counts[ST_REVIEW_REQUIRED], run->counts[ST_REJECTED],
           run->counts[ST_NOT_FOUND], run->n_todo - run->sent);
    fflush(stdout);
}

/* "1 change", "2 changes" (static buffer: one use per message). */
static const char *
changes(size_t n)
{
    static char buf[40];

    snprintf(buf, sizeof buf, "%zu change%s", n, n == 1 ? "" : "s");
    return buf;
}

/* Send batches until done or stopped; returns 0, 2 or 3 (attention decided later). */
static int
send_all(FlushRun *run, QueueEntry **todo, Pusher *p)
{
    size_t i = 0, solo_until = 0;
    int    batch = run->opt->batch_size;
    char   err[600], why[700];

    while (i < run->n_todo)
    {
        int n =
            run->n_todo - i < (size_t) batch ? (int) (run->n_todo - i) : batch;
        char       *text, **rows;
        SendOutcome oc;

        if (i < solo_until)
            n = 1;
        text = batch_text(todo + i, n);
        oc = pusher_send_batch(p, text, n, &rows, err, sizeof err);
        free(text);
        switch (oc)
        {
            case SEND_OK:
                if (!record_batch(run, todo + i, rows, n, err, sizeof err))
                {
                    pusher_free_rows(rows, n);
                    msg("%s; the batch is left pending (re-sending it is safe)",
                        err);
                    return EXIT_USAGE;
                }
                pusher_free_rows(rows, n);
                pusher_progressed(p);
                i += (size_t) n;
                run->batches++;
                progress_update(
                    "sent %zu of %zu changes: %zu synced, %zu need attention",
                    run->sent, run->n_todo, run->counts[ST_SYNCED],
                    attention(run->counts));
                break;
            case SEND_TIMEOUT:
            case SEND_RETRY:
                snprintf(why, sizeof why, "%s", err);
                if (oc == SEND_TIMEOUT && n > 1)
                {
                    batch = (n + 1) / 2;
                    snprintf(why, sizeof why, "%s; next batches of %d", err,
                             batch);
                }
                if (!pusher_wait(p, why))
                {
                    progress_end();
                    summary(run);
                    msg("gave up: could not get through to the database within the deadline "
                        "(%g s; last error: %s); %s left pending",
                        run->opt->push.deadline, err,
                        changes(run->n_todo - run->sent));
                    return EXIT_UNREACHABLE;
                }
                break;
            case SEND_DATA_ERROR:
                if (n > 1)
                {
                    msg("the server refused a batch of %d changes (%s); sending them one at a time",
                        n, err);
                    solo_until = i + (size_t) n;
                    break;
                }
                if (!record_local_rejection(run, todo[i], err, why,
                                            sizeof why))
                {
                    msg("%s; the change is left pending", why);
                    return EXIT_USAGE;
                }
                i++;
                run->batches++;
                break;
            case SEND_UNREACHABLE:
                progress_end();
                summary(run);
                msg("%s (not retrying); %s left pending", err,
                    changes(run->n_todo - run->sent));
                return EXIT_UNREACHABLE;
            case SEND_FATAL:
                progress_end();
                summary(run);
                msg("the server refused the batch: %s; %s left pending", err,
                    changes(run->n_todo - run->sent));
                return EXIT_USAGE;
        }
    }
    progress_end();
    summary(run);
    return EXIT_SYNCED;
}

/*
 * sync-push flush QUEUE: send every pending change, record the outcomes.
 * Exit 0 if all sent changes synced, 1 if some need attention, 2 on a
 * usage/queue/server error, 3 if the database stayed unreachable.
 */
int
cmd_flush(const char *path, const Options *opt)
{
    Queue        q;
    QueueEntry **todo = NULL;
    FlushRun     run;
    Pusher      *p;
    int          rc;

    memset(&run, 0, sizeof run);
    run.q = &q;
    run.opt = opt;
    if (!queue_open(&q, path, false) || !queue_lock_flush(&q) ||
        !queue_repair_outcomes(&q) || !queue_load(&q))
    {
        queue_close(&q);
        return EXIT_USAGE;
    }
    todo = xmalloc(sizeof *todo * (q.n_entries + 1));
    for (size_t i = 0; i < q.n_entries; i++)
        if (q.entries[i].state == ST_PENDING)
            todo[run.n_todo++] = &q.entries[i];
    if (run.n_todo == 0)
    {
        summary(&run);
        free(todo);
        queue_close(&q);
        return EXIT_SYNCED;
    }
    set_progress_enabled(isatty(STDERR_FILENO));
    p = pusher_new(&opt->push);
    rc = send_all(&run, todo, p);
    pusher_free(p);
    free(todo);
    queue_close(&q);
    if (rc == EXIT_SYNCED && attention(run.counts) > 0)
        rc = EXIT_ATTENTION;
    return rc;
}
