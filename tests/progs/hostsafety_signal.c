/* hostsafety_signal - a victim for tests/integration/hostsafety.sh: installs
 * its own SIGUSR2 handler, then receives SIGUSR2 from raise(), from kill() of
 * its own pid and from a forked child, allocating all the while, and prints
 * how many it counted. Waits at most 10 s (alarm) for the child's signals.
 * Must print "usr2=30 alarm=0" with or without an interposer loaded. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t usr2_count, alarmed;

static void on_usr2(int sig)
{
    (void)sig;
    usr2_count++;
}
static void on_alarm(int sig)
{
    (void)sig;
    alarmed = 1;
}

static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc((size_t)(32 + i * 8));
        if (!p)
            exit(99);
        memset(p, i, 32);
        free(p);
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        return 90;
    sa.sa_handler = on_alarm;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return 91;

    for (int i = 0; i < 10; i++) {
        raise(SIGUSR2);
        churn(100);
    }
    for (int i = 0; i < 10; i++) {
        kill(getpid(), SIGUSR2);
        churn(100);
    }

    /* Block SIGUSR2 so no signal from the child is lost between the check
     * and sigsuspend (standard signals do not queue: the child waits for an
     * acknowledgement byte after each one). */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    int ack[2];
    if (pipe(ack) != 0)
        return 92;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0)
        return 93;
    if (child == 0) {
        close(ack[1]);
        for (int i = 0; i < 10; i++) {
            char c;
            churn(50);
            kill(parent, SIGUSR2);
            if (read(ack[0], &c, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    close(ack[0]);
    alarm(10);
    while (usr2_count < 30 && !alarmed) {
        int before = usr2_count;
        sigsuspend(&old);
        churn(20);
        if (usr2_count != before && write(ack[1], "k", 1) != 1)
            break;
    }
    alarm(0);
    close(ack[1]);
    int status = 0;
    waitpid(child, &status, 0);
    printf("usr2=%d alarm=%d child=%d\n", (int)usr2_count, (int)alarmed,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return usr2_count == 30 ? 0 : 1;
}
