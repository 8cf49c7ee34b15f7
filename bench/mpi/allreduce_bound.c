/* The C-level bound for the all-reduce benchmark: MPI_Allreduce on a float buffer, nothing else.
   Build and run: mpicc -O2 -o /tmp/allreduce_bound bench/mpi/allreduce_bound.c && mpirun -np 2 /tmp/allreduce_bound */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const long sizes_mb[] = {1, 10, 100};
    for (int s = 0; s < 3; s++) {
        long count = sizes_mb[s] * 1000 * 1000 / 4;
        float *buffer = malloc(count * sizeof(float));
        for (long i = 0; i < count; i++) buffer[i] = 1.0f;
        double best[9];
        for (int r = 0; r < 11; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double elapsed = MPI_Wtime() - start;
            if (r >= 2) best[r - 2] = elapsed;  /* two warm-up rounds */
        }
        /* median of 9 */
        for (int i = 0; i < 9; i++) for (int j = i + 1; j < 9; j++) if (best[j] < best[i]) { double t = best[i]; best[i] = best[j]; best[j] = t; }
        if (rank == 0) printf("| C MPI_Allreduce | %ld MB | %.2f ms | %.2f GB/s |\n", sizes_mb[s], best[4] * 1e3, sizes_mb[s] / 1e3 / best[4]);
        free(buffer);
    }
    MPI_Finalize();
    return 0;
}
