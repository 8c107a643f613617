/* args.h - the one way every heapscope command reads its arguments: GNU
 * style, like getopt_long with permutation, but without global state and
 * with heapscope's one-line errors.
 *
 *   -o FILE, -oFILE     a short option and its value (short flags cluster: -ab)
 *   --output FILE, --output=FILE
 *   --                  ends the options: everything after it is an operand
 *   -                   an operand (stdin)
 *
 * Options may come before, between or after the operands (`pprof DUMP -o
 * F`), except for a command that runs another one (`record`): there the
 * first operand is that command, and it and everything after it are left
 * untouched for it. Long names must be given in full: an abbreviation that
 * is unambiguous today would change meaning when an option is added. */
#ifndef HS_ARGS_H
#define HS_ARGS_H

typedef struct {
    int id;                /* what hs_args_next returns for it; > 0 */
    char short_name;       /* 'o' for -o, or 0 */
    const char *long_name; /* "output" for --output, or NULL */
    int takes_value;
} hs_arg_option_t;

/* What hs_args_next returns besides an option's id. */
enum {
    HS_ARGS_END = 0,    /* no options left: the operands are ready */
    HS_ARGS_HELP = -1,  /* -h or --help: print the usage, exit 0 */
    HS_ARGS_ERROR = -2, /* one line is on stderr: exit HS_EXIT_BAD_INPUT */
};

typedef enum {
    HS_ARGS_PERMUTE,         /* options anywhere */
    HS_ARGS_STOP_AT_OPERAND, /* the first operand and what follows are a command line */
} hs_args_order_t;

typedef struct {
    const char *cmd;                /* for messages: "heapscope: CMD: ..." */
    const hs_arg_option_t *options; /* ends with an entry whose id is 0 */
    hs_args_order_t order;
    int argc;
    char **argv;
    int next;            /* the argv element to read next */
    const char *word;    /* the argv element being read, for messages */
    const char *cluster; /* the rest of "-abc" still to read, or NULL */
    int only_operands;   /* "--" seen */
    int operands;        /* operands found so far, moved to argv[1..operands] */
    char **operand_list;
} hs_args_t;

/* argv[0] is the command's name and is skipped. The operands are moved to
 * the front of argv as they are found (as glibc's getopt permutes). */
void hs_args_init(hs_args_t *a, const char *cmd, const hs_arg_option_t *options, hs_args_order_t order, int argc,
                  char **argv);
/* The next option: its id, with *value its value (NULL for a flag);
 * HS_ARGS_END, HS_ARGS_HELP, or HS_ARGS_ERROR after one line on stderr
 * naming the option: unknown, missing its value, or given a value it does
 * not take. */
int hs_args_next(hs_args_t *a, const char **value);
/* After HS_ARGS_END: the operands in their order (with STOP_AT_OPERAND, the
 * command line to run, NULL-terminated as argv is). */
char **hs_args_operands(const hs_args_t *a, int *count);

/* For a command that reads exactly one DUMP: 0 with *path set, or
 * HS_EXIT_BAD_INPUT after one line ("missing DUMP (SYNOPSIS)" or "one DUMP
 * at a time"). */
int hs_args_one_dump(const hs_args_t *a, const char *synopsis, const char **path);
/* For a command that reads DUMP...: 0, or HS_EXIT_BAD_INPUT after one line
 * when there is none or `-` is given twice. */
int hs_args_some_dumps(const hs_args_t *a, const char *synopsis);

#endif
