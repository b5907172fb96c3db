/*
 * sync-push.c: main program of sync-push, the device-side outbound queue
 * for sync_resolver.  Owns: the command line (commands, options, usage and
 * exit statuses), the enqueue command (validate every input line first,
 * then append them all with one durable write, or nothing) and the status
 * command (counts by state, age of the oldest pending change).  The flush
 * command is in flush.c.
 */
#include "sync-push.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHOWN_ERRORS 20

/* The --help text. */
static void
usage(FILE *out)
{
    fprintf(
        out,
        "sync-push: durable outbound queue of change envelopes for sync_resolver.\n"
        "\n"
        "Usage:\n"
        "  sync-push enqueue QUEUE [FILE]  validate envelopes (NDJSON, from FILE or standard\n"
        "                                  input) and append them to QUEUE (all or none)\n"
        "  sync-push flush QUEUE           send the pending changes to the database\n"
        "  sync-push status QUEUE          count the changes of QUEUE by state\n"
        "\n"
        "Options:\n"
        "  -d, --dbname=CONNINFO       database to connect to (default: PG* variables)\n"
        "  -b, --batch-size=N          changes per sync_apply_batch call (default 100)\n"
        "      --retry-delay=DURATION  first retry delay cap (default 200ms), doubling\n"
        "      --max-delay=DURATION    largest retry delay (default 10s)\n"
        "      --deadline=DURATION     give up after failing this long (default 60s)\n"
        "      --statement-timeout=DURATION\n"
        "                              statement_timeout of the session (bare number: ms)\n"
        "      --json                  machine-readable output on standard output\n"
        "  -h, --help                  show this help, then exit\n"
        "  -V, --version               show the version, then exit\n"
        "\n"
        "DURATION is a number with unit ms, s, min or h (bare number: seconds).\n"
        "Exit status: 0 all synced, 1 some change needs attention (review_required,\n"
        "rejected, not_found), 2 usage, input or queue error, 3 the database could not\n"
        "be reached within the deadline.\n");
}

/* A usage error: message, hint, status 2. */
static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
usage_error(const char *fmt, ...)
{
    char    m[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    msg("%s", m);
    fprintf(stderr, "Try \"sync-push --help\" for more information.\n");
    return EXIT_USAGE;
}

/* Is the line nothing but JSON whitespace? */
static bool
blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/*
 * sync-push enqueue QUEUE [FILE]: check every line of the input; if all
 * are valid, append them to the queue with one write and fsync; else report
 * each invalid line and append nothing.
 */
static int
cmd_enqueue(const char *path, const char *file, const Options *opt)
{
    FILE   *in = stdin;
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t got;
    long    lineno = 0, nbad = 0, ngood = 0;
    StrBuf  buf;
    Queue   q;
    bool    ok;
    char    err[300];

    if (file != NULL && strcmp(file, "-") != 0 &&
        (in = fopen(file, "r")) == NULL)
    {
        msg("could not open \"%s\": %s", file, strerror(errno));
        return EXIT_USAGE;
    }
    sb_init(&buf);
    while ((got = getline(&line, &cap, in)) >= 0)
    {
        char  *s = line;
        size_t n = (size_t) got;

        lineno++;
        if (n > 0 && s[n - 1] == '\n')
            n--;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3, n -= 3; /* a UTF-8 byte order mark */
        if (blank(s, n))
            continue;
        if (!envelope_check(s, n, err, sizeof err))
        {
            if (++nbad <= MAX_SHOWN_ERRORS)
                msg("input line %ld: %s", lineno, err);
            continue;
        }
        ngood++;
        sb_append(&buf, s, n);
        sb_append(&buf, "\n", 1);
    }
    ok = !ferror(in);
    if (!ok)
        msg("could not read %s: %s", file ? file : "standard input",
            strerror(errno));
    free(line);
    if (in != stdin)
        fclose(in);
    if (!ok || nbad > 0)
    {
        if (nbad > MAX_SHOWN_ERRORS)
            msg("... and %ld more invalid lines", nbad - MAX_SHOWN_ERRORS);
        if (nbad > 0)
            msg("nothing enqueued: %ld of %ld changes are invalid", nbad,
                nbad + ngood);
        sb_free(&buf);
        return EXIT_USAGE;
    }
    ok = queue_open(&q, path, true) &&
         (buf.len == 0 || queue_append_changes(&q, buf.data, buf.len));
    queue_close(&q);
    sb_free(&buf);
    if (!ok)
    {
        msg("nothing enqueued");
        return EXIT_USAGE;
    }
    if (opt->json)
    {
        StrBuf o;

        sb_init(&o);
        sb_printf(&o, "{\"enqueued\":%ld,\"queue\":", ngood);
        sb_json_string(&o, path);
        sb_puts(&o, "}\n");
        fputs(o.data, stdout);
        sb_free(&o);
    }
    else
        printf("enqueued %ld change%s into %s\n", ngood, ngood == 1 ? "" : "s",
               path);
    return EXIT_SYNCED;
}

/*
 * sync-push status QUEUE: counts by state and the age of the oldest
 * pending change (by its queued_at).  Exit 1 if some change needs attention.
 */
static int
cmd_status(const char *path, const Options *opt)
{
    Queue  q;
    size_t counts[ST__COUNT] = {0};
    bool   any_pending = false;
    time_t oldest = 0;
    long   age = 0;
    char   agebuf[32], at[32];

    if (!queue_open(&q, path, false) || !queue_load(&q))
    {
        queue_close(&q);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < q.n_entries; i++)
    {
        QueueEntry *e = &q.entries[i];

        counts[e->state]++;
        if (e->state == ST_PENDING && (!any_pending || e->queued_at < oldest))
        {
            oldest = e->queued_at;
            any_pending = true;
        }
    }
    if (any_pending)
    {
        age = (long) (time(NULL) - oldest);
        if (age < 0)
            age = 0;
        format_age(age, agebuf, sizeof agebuf);
        format_utc(oldest, at, sizeof at);
    }
    if (opt->json)
    {
        printf("{");
        for (int s = 0; s < ST__COUNT; s++)
            printf("\"%s\":%zu,", state_name((ChangeState) s), counts[s]);
        printf("\"total\":%zu,", q.n_entries);
        if (any_pending)
            printf("\"oldest_pending_age_seconds\":%ld,\"oldest_pending_queued_at\":\"%s\"}\n",
                   age, at);
        else
            printf(
                "\"oldest_pending_age_seconds\":null,\"oldest_pending_queued_at\":null}\n");
    }
    else
    {
        for (int s = 0; s < ST__COUNT; s++)
            printf("%-20s%zu\n", state_name((ChangeState) s), counts[s]);
        printf("%-20s%zu\n", "total", q.n_entries);
        if (any_pending)
            printf("%-20s%s (queued at %s)\n", "oldest_pending_age", agebuf,
                   at);
        else
            printf("%-20s-\n", "oldest_pending_age");
    }
    queue_close(&q);
    return counts[ST_REVIEW_REQUIRED] + counts[ST_REJECTED] +
                       counts[ST_NOT_FOUND] >
                   0
               ? EXIT_ATTENTION
               : EXIT_SYNCED;
}

/* A duration option into seconds; false (after the message) if invalid. */
static bool
duration_opt(const char *name, const char *arg, double bare_unit, double *out)
{
    if (!parse_duration(arg, bare_unit, out))
    {
        usage_error("--%s: invalid duration \"%s\" (use e.g. 500ms, 2s, 1min)",
                    name, arg);
        return false;
    }
    return true;
}

/* Parse the command line and run the command. */
int
main(int argc, char **argv)
{
    static const struct option longopts[] =
        {{"dbname", required_argument, NULL, 'd'},
         {"batch-size", required_argument, NULL, 'b'},
         {"retry-delay", required_argument, NULL, 1},
         {"max-delay", required_argument, NULL, 2},
         {"deadline", required_argument, NULL, 3},
         {"statement-timeout", required_argument, NULL, 4},
         {"json", no_argument, NULL, 5},
         {"help", no_argument, NULL, 'h'},
         {"version", no_argument, NULL, 'V'},
         {NULL, 0, NULL, 0}};
    Options     opt = {{NULL, 0.2, 10, 60, -1}, 100, false};
    const char *cmd;
    int         c, nargs;
    double      d;
    char       *end;
    long        v;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:b:hV", longopts, NULL)) != -1)
    {
        switch (c)
        {
            case 'd':
                opt.push.conninfo = optarg;
                break;
            case 'b':
                errno = 0;
                v = strtol(optarg, &end, 10);
                if (*optarg == '\0' || *end != '\0' || errno != 0 || v < 1 ||
                    v > 100000)
                    return usage_error(
                        "--batch-size: expected a whole number from 1 to 100000, got \"%s\"",
                        optarg);
                opt.batch_size = (int) v;
                break;
            case 1:
                if (!duration_opt("retry-delay", optarg, 1,
                                  &opt.push.retry_delay))
                    return EXIT_USAGE;
                break;
            case 2:
                if (!duration_opt("max-delay", optarg, 1, &opt.push.max_delay))
                    return EXIT_USAGE;
                break;
            case 3:
                if (!duration_opt("deadline", optarg, 1, &opt.push.deadline))
                    return EXIT_USAGE;
                break;
            case 4:
                if (!duration_opt("statement-timeout", optarg, 0.001, &d))
                    return EXIT_USAGE;
                if (d * 1000 > INT_MAX)
                    return usage_error("--statement-timeout: \"%s\" is too long",
                                       optarg);
                opt.push.statement_timeout_ms = (long) llround(d * 1000);
                break;
            case 5:
                opt.json = true;
                break;
            case 'h':
                usage(stdout);
                return EXIT_SYNCED;
            case 'V':
                printf("sync-push %s\n", SYNC_PUSH_VERSION);
                return EXIT_SYNCED;
            case ':':
                return usage_error("option \"%s\" needs a value",
                                   argv[optind - 1]);
            default:
                return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s",
                           "no command given (enqueue, flush or status)");
    if (opt.push.retry_delay <= 0)
        return usage_error("%s", "--retry-delay must be more than 0");
    if (opt.push.max_delay < opt.push.retry_delay)
        opt.push.max_delay = opt.push.retry_delay;
    if (!conninfo_check(opt.push.conninfo))
        return EXIT_USAGE;
    cmd = argv[optind++];
    nargs = argc - optind;
    if (strcmp(cmd, "enqueue") == 0)
    {
        if (nargs < 1 || nargs > 2)
            return usage_error("%s", "usage: sync-push enqueue QUEUE [FILE]");
        return cmd_enqueue(argv[optind], nargs == 2 ? argv[optind + 1] : NULL,
                           &opt);
    }
    if (strcmp(cmd, "flush") == 0 || strcmp(cmd, "status") == 0)
    {
        if (nargs != 1)
            return usage_error("usage: sync-push %s QUEUE", cmd);
        return strcmp(cmd, "flush") == 0 ? cmd_flush(argv[optind], &opt)
                                         : cmd_status(argv[optind], &opt);
    }
    return usage_error("unknown command \"%s\" (use enqueue, flush or status)",
                       cmd);
}
