/* A stand-in for libnccl where no GPU is (NCCL needs one to make a communicator): the collectives'
 * names and signatures, each taking 1 ms, for tests/bpf/test_probes.py. */
#include <stddef.h>
#include <time.h>

static int take_a_millisecond(void)
{
	struct timespec busy = {0, 1000 * 1000};

	nanosleep(&busy, NULL);
	return 0;
}

int ncclAllReduce(const void *send, void *receive, size_t count, int datatype, int op, void *comm, void *stream)
{
	(void)send, (void)receive, (void)count, (void)datatype, (void)op, (void)comm, (void)stream;
	return take_a_millisecond();
}

int ncclBroadcast(const void *send, void *receive, size_t count, int datatype, int root, void *comm, void *stream)
{
	(void)send, (void)receive, (void)count, (void)datatype, (void)root, (void)comm, (void)stream;
	return take_a_millisecond();
}

int ncclSend(const void *buffer, size_t count, int datatype, int peer, void *comm, void *stream)
{
	(void)buffer, (void)count, (void)datatype, (void)peer, (void)comm, (void)stream;
	return take_a_millisecond();
}
