/* nt-cuda: calls the CUDA runtime (libcudart, opened by name as a framework does) a known number
 * of times per API, for tests/bpf/test_probes.py. Without a GPU every call still returns, with an
 * error code. It prints "ready LIBRARY" once libcudart is mapped; then, for each line "go", it makes
 * the calls and prints "done" with each API's last return code; it exits at any other line.
 * With NT_OPEN_LATE set it prints "ready late" first and opens the libraries only at the next
 * line, answering "done LIBRARY" (as a framework that loads the runtime at its first CUDA call).
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

/* The runtime's entry points, and NCCL's where NT_NCCL names a library. */
struct runtime {
	malloc_fn malloc;
	free_fn free;
	memcpy_fn memcpy;
	launch_fn launch;
	memcpy_fn_async memcpy_async;
	sync_fn sync;
	collective_fn all_reduce, broadcast;
	char where[4096];
};

static int open_runtime(struct runtime *rt)
{
	void *cudart = open_cudart();
	if (!cudart) {
		fprintf(stderr, "nt-cuda: no libcudart: %s\n", dlerror());
		return -1;
	}
	rt->malloc = (malloc_fn)dlsym(cudart, "cudaMalloc");
	rt->free = (free_fn)dlsym(cudart, "cudaFree");
	rt->memcpy = (memcpy_fn)dlsym(cudart, "cudaMemcpy");
	rt->launch = (launch_fn)dlsym(cudart, "cudaLaunchKernel");
	rt->memcpy_async = (memcpy_fn_async)dlsym(cudart, "cudaMemcpyAsync");
	rt->sync = (sync_fn)dlsym(cudart, "cudaDeviceSynchronize");
	if (!rt->malloc || !rt->free || !rt->memcpy || !rt->launch) {
		fprintf(stderr, "nt-cuda: libcudart lacks an API\n");
		return -1;
	}
	/* Opened before "ready": the agent finds the libraries a process has mapped when it starts. */
	if (getenv("NT_NCCL")) {
		void *nccl = dlopen(getenv("NT_NCCL"), RTLD_NOW);
		if (!nccl) {
			fprintf(stderr, "nt-cuda: %s\n", dlerror());
			return -1;
		}
		rt->all_reduce = (collective_fn)dlsym(nccl, "ncclAllReduce");
		rt->broadcast = (collective_fn)dlsym(nccl, "ncclBroadcast");
		if (!rt->all_reduce || !rt->broadcast) {
			fprintf(stderr, "nt-cuda: no NCCL in %s\n", getenv("NT_NCCL"));
			return -1;
		}
	}
	Dl_info info;
	snprintf(rt->where, sizeof(rt->where), "?");
	if (dladdr((void *)rt->malloc, &info) && info.dli_fname)
		snprintf(rt->where, sizeof(rt->where), "%s", info.dli_fname);
	return 0;
}

/* Not inlined: the device memory test finds this function as the allocations' innermost frame. */
__attribute__((noinline)) static void make_calls(const struct runtime *rt, long mallocs, long frees, long memcpys, long launches)
{
	int malloc_rc = 0, free_rc = 0, memcpy_rc = 0, launch_rc = 0;
	static float host[256];
	void *blocks[1024] = {0};
	for (long i = 0; i < mallocs; i++)
		malloc_rc = rt->malloc(&blocks[i % 1024], 4096 * (size_t)(i + 1));
	for (long i = 0; i < frees; i++)
		free_rc = rt->free(blocks[i % 1024] ? blocks[i % 1024] : (void *)(0x1000 * (i + 1)));
	for (long i = 0; i < memcpys; i++)
		memcpy_rc = rt->memcpy(blocks[0] ? blocks[0] : (void *)0x1000, host, sizeof(host), 1 /* host to device */);
	dim3 grid = {64, 2, 1}, block = {256, 1, 1};
	float *a = host, *b = host + 128;
	int n = 128;
	void *args[] = {&a, &b, &n};
	for (long i = 0; i < launches; i++)
		launch_rc = rt->launch((const void *)nt_vector_add, grid, block, args, 0, NULL);
	for (long i = 0; rt->memcpy_async && i < memcpys; i++)
		rt->memcpy_async(host, blocks[0] ? blocks[0] : (void *)0x1000, 512, 2 /* device to host */, NULL);
	if (rt->sync)
		rt->sync();
	if (rt->all_reduce) {
		static float floats[1024];
		static double doubles[100];
		for (int i = 0; i < 8; i++)
			rt->all_reduce(floats, floats, 1024, 7 /* ncclFloat32 */, 0 /* ncclSum */, NULL, NULL);
		for (int i = 0; i < 2; i++)
			rt->broadcast(doubles, doubles, 100, 8 /* ncclFloat64 */, 0 /* root */, NULL, NULL);
	}
	printf("done %d %d %d %d\n", malloc_rc, free_rc, memcpy_rc, launch_rc);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long mallocs = argc > 4 ? atol(argv[1]) : 100, frees = argc > 4 ? atol(argv[2]) : 60;
	long memcpys = argc > 4 ? atol(argv[3]) : 10, launches = argc > 4 ? atol(argv[4]) : 5;
	const int late = getenv("NT_OPEN_LATE") != NULL;
	char line[64];
	struct runtime rt = {0};

	if (late) {
		printf("ready late\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	if (open_runtime(&rt) != 0)
		return 2;
	printf("%s %s\n", late ? "done" : "ready", rt.where);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "go", 2) == 0)
		make_calls(&rt, mallocs, frees, memcpys, launches);
	return 0;
}
