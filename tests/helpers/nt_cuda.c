/* nt-cuda: calls the CUDA runtime (libcudart, opened by name as a framework does) a known number
 * of times per API, for tests/bpf/test_probes.py. Without a GPU every call still returns, with an
 * error code. It prints "ready LIBRARY" once libcudart is mapped, waits for a line, makes the
 * calls, prints "done" with each API's last return code, and exits at the next line.
 *
 *   nt-cuda [MALLOCS FREES MEMCPYS LAUNCHES]   (default: 100 60 10 5)
 *
 * Then as many cudaMemcpyAsync calls (device to host) as MEMCPYS, and one cudaDeviceSynchronize.
 * NT_CUDART names the library to open instead; NT_NCCL a libnccl, whose ncclAllReduce it then calls
 * 8 times with 1024 floats and ncclBroadcast twice with 100 doubles. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*malloc_fn)(void **, size_t);
typedef int (*free_fn)(void *);
typedef int (*memcpy_fn)(void *, const void *, size_t, int);
typedef struct {
	unsigned x, y, z;
} dim3;
typedef int (*memcpy_fn_async)(void *, const void *, size_t, int, void *);
typedef int (*sync_fn)(void);
typedef int (*collective_fn)(const void *, void *, size_t, int, int, void *, void *);
typedef int (*launch_fn)(const void *, dim3, dim3, void **, size_t, void *);

/* The "kernel" the launches name: its host-side address is what cudaLaunchKernel receives. */
__attribute__((noinline)) void nt_vector_add(float *a, float *b, int n)
{
	for (int i = 0; i < n; i++)
		a[i] += b[i];
}

static void *open_cudart(void)
{
	if (getenv("NT_CUDART"))
		return dlopen(getenv("NT_CUDART"), RTLD_NOW);
	const char *names[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
			       "/usr/local/cuda/lib64/libcudart.so", NULL};
	for (int i = 0; names[i]; i++) {
		void *handle = dlopen(names[i], RTLD_NOW);
		if (handle)
			return handle;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long mallocs = argc > 4 ? atol(argv[1]) : 100, frees = argc > 4 ? atol(argv[2]) : 60;
	long memcpys = argc > 4 ? atol(argv[3]) : 10, launches = argc > 4 ? atol(argv[4]) : 5;
	void *cudart = open_cudart();
	char line[64], where[4096] = "?";

	if (!cudart) {
		fprintf(stderr, "nt-cuda: no libcudart: %s\n", dlerror());
		return 2;
	}
	malloc_fn cuda_malloc = (malloc_fn)dlsym(cudart, "cudaMalloc");
	free_fn cuda_free = (free_fn)dlsym(cudart, "cudaFree");
	memcpy_fn cuda_memcpy = (memcpy_fn)dlsym(cudart, "cudaMemcpy");
	launch_fn cuda_launch = (launch_fn)dlsym(cudart, "cudaLaunchKernel");
	if (!cuda_malloc || !cuda_free || !cuda_memcpy || !cuda_launch) {
		fprintf(stderr, "nt-cuda: libcudart lacks an API\n");
		return 2;
	}
	/* Opened before "ready": the agent finds the libraries a process has mapped when it starts. */
	void *nccl = getenv("NT_NCCL") ? dlopen(getenv("NT_NCCL"), RTLD_NOW) : NULL;
	if (getenv("NT_NCCL") && !nccl) {
		fprintf(stderr, "nt-cuda: %s\n", dlerror());
		return 2;
	}
	Dl_info info;
	if (dladdr((void *)cuda_malloc, &info) && info.dli_fname)
		snprintf(where, sizeof(where), "%s", info.dli_fname);
	printf("ready %s\n", where);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;

	int malloc_rc = 0, free_rc = 0, memcpy_rc = 0, launch_rc = 0;
	static float host[256];
	void *blocks[1024] = {0};
	for (long i = 0; i < mallocs; i++)
		malloc_rc = cuda_malloc(&blocks[i % 1024], 4096 * (size_t)(i + 1));
	for (long i = 0; i < frees; i++)
		free_rc = cuda_free(blocks[i % 1024] ? blocks[i % 1024] : (void *)(0x1000 * (i + 1)));
	for (long i = 0; i < memcpys; i++)
		memcpy_rc = cuda_memcpy(blocks[0] ? blocks[0] : (void *)0x1000, host, sizeof(host), 1 /* host to device */);
	dim3 grid = {64, 2, 1}, block = {256, 1, 1};
	float *a = host, *b = host + 128;
	int n = 128;
	void *args[] = {&a, &b, &n};
	for (long i = 0; i < launches; i++)
		launch_rc = cuda_launch((const void *)nt_vector_add, grid, block, args, 0, NULL);
	memcpy_fn_async cuda_memcpy_async = (memcpy_fn_async)dlsym(cudart, "cudaMemcpyAsync");
	sync_fn cuda_sync = (sync_fn)dlsym(cudart, "cudaDeviceSynchronize");
	for (long i = 0; cuda_memcpy_async && i < memcpys; i++)
		cuda_memcpy_async(host, blocks[0] ? blocks[0] : (void *)0x1000, 512, 2 /* device to host */, NULL);
	if (cuda_sync)
		cuda_sync();
	if (nccl) {
		collective_fn all_reduce = (collective_fn)dlsym(nccl, "ncclAllReduce");
		collective_fn broadcast = (collective_fn)dlsym(nccl, "ncclBroadcast");
		static float floats[1024];
		static double doubles[100];
		if (!all_reduce || !broadcast) {
			fprintf(stderr, "nt-cuda: no NCCL in %s\n", getenv("NT_NCCL"));
			return 2;
		}
		for (int i = 0; i < 8; i++)
			all_reduce(floats, floats, 1024, 7 /* ncclFloat32 */, 0 /* ncclSum */, NULL, NULL);
		for (int i = 0; i < 2; i++)
			broadcast(doubles, doubles, 100, 8 /* ncclFloat64 */, 0 /* root */, NULL, NULL);
	}
	printf("done %d %d %d %d\n", malloc_rc, free_rc, memcpy_rc, launch_rc);
	fflush(stdout);
	fgets(line, sizeof(line), stdin);
	return 0;
}
