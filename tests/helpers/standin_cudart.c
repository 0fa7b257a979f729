/* A stand-in for libcudart where no GPU is: this machine's real libcudart fails every call (no
 * device), so device memory that is allocated, copied to and freed can only be exercised through a
 * library with the runtime's names and signatures. tests/bpf/test_probes.py uses it beside the real
 * one; every value here is the caller's to check, none is the agent's. */
#include <stdlib.h>
#include <time.h>

int cudaMalloc(void **block, size_t size)
{
	*block = malloc(size ? size : 1);
	return *block ? 0 : 2 /* cudaErrorMemoryAllocation */;
}

int cudaFree(void *block)
{
	free(block);
	return 0;
}

int cudaMemcpy(void *to, const void *from, size_t count, int kind)
{
	(void)to, (void)from, (void)count;
	return kind >= 0 && kind <= 4 ? 0 : 21 /* cudaErrorInvalidMemcpyDirection */;
}

int cudaMemcpyAsync(void *to, const void *from, size_t count, int kind, void *stream)
{
	(void)stream;
	return cudaMemcpy(to, from, count, kind);
}

int cudaLaunchKernel(const void *function, unsigned long grid_xy, unsigned grid_z, unsigned long block_xy,
		     unsigned block_z, void **args, size_t shared, void *stream)
{
	(void)grid_xy, (void)grid_z, (void)block_xy, (void)block_z, (void)args, (void)shared, (void)stream;
	return function ? 0 : 98 /* cudaErrorInvalidDeviceFunction */;
}

/* The device works for 20 ms. */
int cudaDeviceSynchronize(void)
{
	struct timespec busy = {0, 20 * 1000 * 1000};

	nanosleep(&busy, NULL);
	return 0;
}
