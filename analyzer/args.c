/* args.c - the argument parser every command uses (see args.h for the
 * grammar). It owns only the syntax: which words are options, which are
 * values and which are operands. What a value means, and whether an option
 * may be repeated, is each command's business. It must never let a word
 * through as an operand that looks like an option the user mistyped: every
 * "-x" before "--" is an option or an error. */
#include "args.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "input.h"

void hs_args_init(hs_args_t *a, const char *cmd, const hs_arg_option_t *options, hs_args_order_t order, int argc,
                  char **argv)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->options = options;
    a->order = order;
    a->argc = argc;
    a->argv = argv;
    a->next = 1;
}

static const hs_arg_option_t *find_long(const hs_args_t *a, const char *name, size_t len)
{
    for (const hs_arg_option_t *o = a->options; o->id; o++)
        if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
            return o;
    return NULL;
}

static const hs_arg_option_t *find_short(const hs_args_t *a, char c)
{
    for (const hs_arg_option_t *o = a->options; o->id; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static int unknown(const hs_args_t *a, const char *word)
{
    fprintf(stderr, "heapscope: %s: unknown option '%s' (see heapscope help %s)\n", a->cmd, word, a->cmd);
    return HS_ARGS_ERROR;
}

static int missing_value(const hs_args_t *a, const char *spelled)
{
    fprintf(stderr, "heapscope: %s: %s needs a value\n", a->cmd, spelled);
    return HS_ARGS_ERROR;
}

/* "--name", "--name=VALUE" or "--name VALUE". */
static int take_long(hs_args_t *a, const char *word, const char **value)
{
    const char *name = word + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (!eq && strcmp(name, "help") == 0)
        return HS_ARGS_HELP;
    const hs_arg_option_t *o = find_long(a, name, len);
    if (!o)
        return unknown(a, word);
    if (!o->takes_value) {
        if (eq) {
            fprintf(stderr, "heapscope: %s: --%s takes no value ('%s')\n", a->cmd, o->long_name, word);
            return HS_ARGS_ERROR;
        }
        return o->id;
    }
    if (eq) {
        *value = eq + 1;
        return o->id;
    }
    if (a->next >= a->argc)
        return missing_value(a, word);
    *value = a->argv[a->next++];
    return o->id;
}

/* The next letter of a "-abc" cluster; a letter that takes a value takes
 * the rest of the word ("-oFILE") or the next word ("-o FILE"). */
static int take_short(hs_args_t *a, const char **value)
{
    char c = *a->cluster++;
    if (!*a->cluster)
        a->cluster = NULL;
    if (c == 'h' && !find_short(a, 'h'))
        return HS_ARGS_HELP;
    const hs_arg_option_t *o = find_short(a, c);
    if (!o) {
        if (strlen(a->word) > 2) { /* name the word too: "-x.hsd" is more likely a file than -x */
            fprintf(stderr,
                    "heapscope: %s: unknown option '-%c' in '%s' (see heapscope help %s; -- ends the options)\n",
                    a->cmd, c, a->word, a->cmd);
            return HS_ARGS_ERROR;
        }
        return unknown(a, a->word);
    }
    if (!o->takes_value)
        return o->id;
    if (a->cluster) {
        *value = a->cluster;
        a->cluster = NULL;
        return o->id;
    }
    if (a->next >= a->argc) {
        char word[3] = {'-', c, 0};
        return missing_value(a, word);
    }
    *value = a->argv[a->next++];
    return o->id;
}

int hs_args_next(hs_args_t *a, const char **value)
{
    *value = NULL;
    if (a->cluster)
        return take_short(a, value);
    while (a->next < a->argc) {
        char *word = a->argv[a->next];
        int is_option = !a->only_operands && word[0] == '-' && word[1] != '\0';
        if (is_option && strcmp(word, "--") == 0) {
            a->next++;
            a->only_operands = 1;
            if (a->order == HS_ARGS_STOP_AT_OPERAND)
                break;
            continue;
        }
        if (!is_option) {
            if (a->order == HS_ARGS_STOP_AT_OPERAND)
                break;
            /* Operands move to the front; the slots they pass over held
             * options and values already returned. */
            a->argv[1 + a->operands++] = word;
            a->next++;
            continue;
        }
        a->next++;
        a->word = word;
        if (word[1] == '-')
            return take_long(a, word, value);
        a->cluster = word + 1;
        return take_short(a, value);
    }
    if (a->order == HS_ARGS_STOP_AT_OPERAND) {
        a->operand_list = a->argv + a->next;
        a->operands = a->argc - a->next;
    } else {
        a->operand_list = a->argv + 1;
    }
    return HS_ARGS_END;
}

char **hs_args_operands(const hs_args_t *a, int *count)
{
    *count = a->operands;
    return a->operand_list;
}

int hs_args_one_dump(const hs_args_t *a, const char *synopsis, const char **path)
{
    if (a->operands == 0) {
        fprintf(stderr, "heapscope: %s: missing DUMP (%s)\n", a->cmd, synopsis);
        return HS_EXIT_BAD_INPUT;
    }
    if (a->operands > 1) {
        fprintf(stderr, "heapscope: %s: one DUMP at a time ('%s' and '%s' given)\n", a->cmd, a->operand_list[0],
                a->operand_list[1]);
        return HS_EXIT_BAD_INPUT;
    }
    *path = a->operand_list[0];
    return 0;
}

int hs_args_some_dumps(const hs_args_t *a, const char *synopsis)
{
    if (a->operands == 0) {
        fprintf(stderr, "heapscope: %s: missing DUMP (%s)\n", a->cmd, synopsis);
        return HS_EXIT_BAD_INPUT;
    }
    return hs_input_check_operands(a->cmd, a->operand_list, a->operands) ? HS_EXIT_BAD_INPUT : 0;
}
