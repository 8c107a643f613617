/* sigprof_owner.c - a program that profiles itself with SIGPROF (its own
 * handler, setitimer(ITIMER_PROF) at 1 kHz), for live_cpu.sh: heapscope must
 * answer 409 to a CPU profile or thread dump and leave its signal alone.
 * Computes the same chunk of work over and over until stdin reaches EOF,
 * then checks its own results and exits 0 when all hold:
 *   - every chunk gave the same checksum;
 *   - its handler ran (ticks > 0) and saw only its own timer's signals
 *     (si_code SI_KERNEL), never a timer or queued signal of someone else;
 *   - SIGPROF's handler is still its own.
 * Prints "ticks N chunks M" and, on a failed check, why (exit 1). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_long ticks, strangers;

static void on_prof(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (si->si_code == SI_KERNEL)
        atomic_fetch_add(&ticks, 1);
    else
        atomic_fetch_add(&strangers, 1);
}

static volatile uint32_t chunk_len = 2000000; /* read at run time: no folding */

static uint64_t chunk(void)
{
    uint64_t h = 1469598103934665603ull;
    uint32_t n = chunk_len;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ i) * 1099511628211ull;
    return h;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_prof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) != 0)
        return 1;
    struct itimerval it = {{0, 1000}, {0, 1000}};
    if (setitimer(ITIMER_PROF, &it, NULL) != 0)
        return 1;
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    uint64_t first = chunk(), bad = 0;
    long chunks = 1;
    char buf[64];
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (chunk() != first)
            bad++;
        chunks++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    struct sigaction now;
    sigaction(SIGPROF, NULL, &now);
    printf("ticks %ld chunks %ld\n", atomic_load(&ticks), chunks);
    int ok = 1;
    if (bad) {
        printf("FAIL: %lu chunks gave another checksum\n", (unsigned long)bad);
        ok = 0;
    }
    if (atomic_load(&ticks) == 0) {
        printf("FAIL: its SIGPROF handler never ran\n");
        ok = 0;
    }
    if (atomic_load(&strangers)) {
        printf("FAIL: %ld SIGPROF signals that were not its timer's\n", atomic_load(&strangers));
        ok = 0;
    }
    if (!(now.sa_flags & SA_SIGINFO) || now.sa_sigaction != on_prof) {
        printf("FAIL: SIGPROF's handler is no longer its own\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}
