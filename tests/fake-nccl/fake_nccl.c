/* A stand-in for libnccl.so.2 with NCCL's C signatures, for testing the binding without GPUs.
   Ranks are threads of one process; collectives run on host memory through a shared buffer.
   It checks what a real NCCL would reject: the 128-byte unique id must arrive intact (passed by value),
   datatypes must be float16/float32/float64/bfloat16 with ncclSum. Built by the tests with gcc.
   With FAKE_NCCL_RANKS_PER_PROCESS=1 each process holds one rank and a sum pretends every rank held the
   same data (data × nranks): enough to test launching and the id exchange across processes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int rank, nranks; } fakeComm;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t barrier;
static int barrier_ready = 0;
static int alone = 0; /* one rank in this process: sums assume identical data on every rank */
static double shared[1 << 16];

static size_t element_size(int dtype) {
    switch (dtype) { case 6: case 9: return 2; case 7: return 4; case 8: return 8; default: return 0; }
}

int ncclGetVersion(int *version) { *version = 21805; return 0; }

const char *ncclGetErrorString(int code) {
    static char text[64];
    snprintf(text, sizeof text, "fake NCCL error %d", code);
    return text;
}

int ncclGetUniqueId(ncclUniqueId *id) {
    for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 3 + 1);
    return 0;
}

int ncclCommInitRank(fakeComm **comm, int nranks, ncclUniqueId id, int rank) {
    for (int i = 0; i < 128; i++) if (id.internal[i] != (char)(i * 3 + 1)) return 4; /* ncclInvalidArgument */
    pthread_mutex_lock(&lock);
    if (!barrier_ready) {
        const char *local = getenv("FAKE_NCCL_RANKS_PER_PROCESS");
        unsigned here = local ? (unsigned)atoi(local) : (unsigned)nranks;
        alone = here == 1;
        pthread_barrier_init(&barrier, NULL, here);
        barrier_ready = 1;
    }
    pthread_mutex_unlock(&lock);
    *comm = malloc(sizeof(fakeComm));
    (*comm)->rank = rank;
    (*comm)->nranks = nranks;
    pthread_barrier_wait(&barrier);
    return 0;
}

static double load(const void *p, int dtype, size_t i) {
    if (dtype == 7) return ((const float *)p)[i];
    if (dtype == 8) return ((const double *)p)[i];
    return 0; /* half types are accepted but not summed by this fake */
}

static void store(void *p, int dtype, size_t i, double v) {
    if (dtype == 7) ((float *)p)[i] = (float)v;
    else if (dtype == 8) ((double *)p)[i] = v;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int dtype, int op, fakeComm *comm, void *stream) {
    (void)stream;
    if (element_size(dtype) == 0 || op != 0) return 4;
    if (alone) {
        for (size_t i = 0; i < count; i++) store(recv, dtype, i, load(send, dtype, i) * comm->nranks);
        return 0;
    }
    if (count > (1 << 16)) return 4;
    if (comm->rank == 0) memset(shared, 0, count * sizeof(double));
    pthread_barrier_wait(&barrier);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++) shared[i] += load(send, dtype, i);
    pthread_mutex_unlock(&lock);
    pthread_barrier_wait(&barrier);
    for (size_t i = 0; i < count; i++) store(recv, dtype, i, shared[i]);
    pthread_barrier_wait(&barrier);
    return 0;
}

int ncclBroadcast(const void *send, void *recv, size_t count, int dtype, int root, fakeComm *comm, void *stream) {
    (void)stream;
    if (element_size(dtype) == 0 || root < 0 || root >= comm->nranks) return 4;
    if (alone) { if (recv != send) memmove(recv, send, count * element_size(dtype)); return 0; }
    if (count > (1 << 16)) return 4;
    if (comm->rank == root) for (size_t i = 0; i < count; i++) shared[i] = load(send, dtype, i);
    pthread_barrier_wait(&barrier);
    for (size_t i = 0; i < count; i++) store(recv, dtype, i, shared[i]);
    pthread_barrier_wait(&barrier);
    return 0;
}

int ncclCommDestroy(fakeComm *comm) { free(comm); return 0; }
int ncclCommAbort(fakeComm *comm) { free(comm); return 0; }
