/*
 * A libsystemd.so.0 for conmon that has no journal.
 *
 * conmon takes one function from libsystemd: sd_journal_sendv_with_location, called
 * only by its journald log driver (`-l journald:`), which Pier never asks for. Linking
 * the real library costs every conmon about 120 KiB of private memory (the relocated
 * data of libsystemd, libgcrypt and their compression libraries) and half a
 * millisecond of start-up. scripts/lean-conmon.sh links a copy of conmon against this
 * instead; a journald write fails as it does in a conmon built without systemd.
 */
#include <errno.h>

struct iovec;

int sd_journal_sendv_with_location(const char *file, const char *line, const char *func,
                                   const struct iovec *iov, int n)
{
    (void)file;
    (void)line;
    (void)func;
    (void)iov;
    (void)n;
    return -ENOSYS;
}
