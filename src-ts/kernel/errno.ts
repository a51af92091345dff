// errno values (asm-generic/errno-base.h and errno.h, as Linux on x86-64 numbers them) and the
// error a kernel-object operation throws to make a syscall fail with one of them.
import { constants } from 'os';

const E = constants.errno;

export const Errno = {
  EPERM: E.EPERM,
  ENOENT: E.ENOENT,
  ESRCH: E.ESRCH,
  EINTR: E.EINTR,
  EIO: E.EIO,
  E2BIG: E.E2BIG,
  EBADF: E.EBADF,
  EBADFD: 77, // asm-generic/errno.h (os.constants.errno lacks it): OBJ_GET_INFO_BY_FD on a closed fd
  EAGAIN: E.EAGAIN,
  ENOMEM: E.ENOMEM,
  EACCES: E.EACCES,
  EFAULT: E.EFAULT,
  EBUSY: E.EBUSY,
  EEXIST: E.EEXIST,
  ENODEV: E.ENODEV,
  ENOTDIR: E.ENOTDIR,
  EISDIR: E.EISDIR,
  ENOTEMPTY: E.ENOTEMPTY,
  EXDEV: E.EXDEV,
  EINVAL: E.EINVAL,
  ENOSPC: E.ENOSPC,
  ENOTTY: E.ENOTTY,
  ERANGE: E.ERANGE,
  ENOSYS: E.ENOSYS,
  ENOTSUP: 524, // the kernel-internal ENOTSUPP some bpf paths leak to user space
  EOPNOTSUPP: E.EOPNOTSUPP,
  EPROTO: E.EPROTO,
  ELOOP: E.ELOOP,
  ENAMETOOLONG: E.ENAMETOOLONG,
} as const;

export class KernelError extends Error {
  constructor(public readonly errno: number, message?: string) {
    super(message ?? `errno ${errno}`);
  }
}

export function fail(errno: number, message?: string): never {
  throw new KernelError(errno, message);
}
