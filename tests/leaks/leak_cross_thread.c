/* leak_cross_thread.c - leak corpus: a leak across threads. A producer
 * thread allocates two kinds of messages and queues them; the consumer
 * thread frees the data messages it handles but forgets the status
 * messages: make_status_message()'s 512 B blocks, 400 a second (200 KiB/s),
 * leak while make_data_message()'s 4 KiB blocks (4 MB/s) are freed on the
 * other thread. Usage: leak_cross_thread [SECONDS] (default 20). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DATA_SIZE 4096
#define STATUS_SIZE 512
#define DATA_PER_SECOND 1000
#define STATUS_PER_SECOND 400

enum message_kind { MESSAGE_DATA, MESSAGE_STATUS, MESSAGE_STOP };

typedef struct message {
    struct message *next;
    enum message_kind kind;
    unsigned id;
    char body[];
} message_t;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static message_t *queue_head, *queue_tail;
static void *volatile sink;
static double run_seconds = 20.0;
static uint64_t leaked_bytes, leaked_messages; /* written by the producer only */
static double producer_seconds;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pacing, not synchronisation: the producer advances in 5 ms steps. */
static void pause_step(void)
{
    struct timespec step = {0, 5 * 1000 * 1000};
    nanosleep(&step, NULL);
}

static void enqueue(message_t *m)
{
    m->next = NULL;
    pthread_mutex_lock(&queue_lock);
    if (queue_tail)
        queue_tail->next = m;
    else
        queue_head = m;
    queue_tail = m;
    pthread_cond_signal(&queue_ready);
    pthread_mutex_unlock(&queue_lock);
}

static message_t *dequeue(void)
{
    pthread_mutex_lock(&queue_lock);
    while (!queue_head)
        pthread_cond_wait(&queue_ready, &queue_lock);
    message_t *m = queue_head;
    queue_head = m->next;
    if (!queue_head)
        queue_tail = NULL;
    pthread_mutex_unlock(&queue_lock);
    return m;
}

__attribute__((noinline)) static message_t *make_data_message(unsigned id)
{
    message_t *m = malloc(DATA_SIZE);
    m->kind = MESSAGE_DATA;
    m->id = id;
    memset(m->body, (int)(id & 0xff), DATA_SIZE - sizeof(*m));
    return m;
}

__attribute__((noinline)) static message_t *make_status_message(unsigned id)
{
    message_t *m = malloc(STATUS_SIZE); /* LEAK: leak_cross_thread */
    m->kind = MESSAGE_STATUS;
    m->id = id;
    snprintf(m->body, STATUS_SIZE - sizeof(*m), "status %u: queue healthy", id);
    return m;
}

static void *producer_main(void *arg)
{
    (void)arg;
    double start = now(), elapsed = 0;
    uint64_t data = 0, status = 0;
    while ((elapsed = now() - start) < run_seconds) {
        for (; data < (uint64_t)(elapsed * DATA_PER_SECOND); data++)
            enqueue(make_data_message((unsigned)data));
        for (; status < (uint64_t)(elapsed * STATUS_PER_SECOND); status++) {
            enqueue(make_status_message((unsigned)status));
            leaked_bytes += STATUS_SIZE;
            leaked_messages++;
        }
        pause_step();
    }
    producer_seconds = elapsed;
    message_t *stop = calloc(1, sizeof(message_t));
    stop->kind = MESSAGE_STOP;
    enqueue(stop);
    return NULL;
}

static void *consumer_main(void *arg)
{
    (void)arg;
    for (;;) {
        message_t *m = dequeue();
        switch (m->kind) {
        case MESSAGE_DATA:
            sink = m;
            free(m);
            break;
        case MESSAGE_STATUS:
            sink = m; /* logged, then forgotten: the bug is the missing free(m) */
            break;
        case MESSAGE_STOP: free(m); return NULL;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        run_seconds = atof(argv[1]);
    pthread_t producer, consumer;
    if (pthread_create(&consumer, NULL, consumer_main, NULL) != 0 ||
        pthread_create(&producer, NULL, producer_main, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    printf("leak_cross_thread: consumer forgot %llu status messages from make_status_message; "
           "leaked_bytes=%llu seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)leaked_messages, (unsigned long long)leaked_bytes, producer_seconds,
           (double)leaked_bytes / producer_seconds);
    return 0;
}
