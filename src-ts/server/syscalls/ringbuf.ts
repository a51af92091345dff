// BPF_MAP_TYPE_RINGBUF, server side: the ring itself lives in the map's shared memory
// (src-native/core/maps/map_ringbuf.c, ringbuf_ring.c) and never crosses the socket; what the
// server owns is the one eventfd per ring that wakes its consumer. The tool's shim asks for it
// with the private ioctl BPFTIME_IOC_WAIT_FD on the map fd (as for perf buffers) and waits on it
// in epoll/poll; agents receive it in ATTACH beside the map's memfd and write it from
// bpf_ringbuf_submit/output when the consumer sleeps (the server's own handle gets it too, for
// test runs). A user ring buffer uses the same eventfd the other way round: its producer (the
// tool) sleeps until a program's bpf_user_ringbuf_drain makes room.
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF } from '../../uapi/bpf';

const wakeFds = new WeakMap<BpfMap, number>();

/** A ring buffer, or a user ring buffer (the same ring and eventfd, but the sleeper is its
 * user-space producer waiting for room, woken by the programs' bpf_user_ringbuf_drain). */
export function isRingbuf(map: BpfMap): boolean {
  return map.spec.mapType === BPF_MAP_TYPE_RINGBUF || map.spec.mapType === BPF_MAP_TYPE_USER_RINGBUF;
}

/** The ring's eventfd, made on first use and closed with the map. */
export function ringbufWakeFd(map: BpfMap): number {
  const known = wakeFds.get(map);
  if (known !== undefined) return known;
  if (!isRingbuf(map)) throw new KernelError(Errno.ENOTTY, 'only ring buffer maps can be waited on');
  const fd: number = addon.eventfd();
  if (fd < 0) throw new KernelError(-fd, 'eventfd failed');
  // Programs the server runs itself (test runs) produce or drain through its own handle.
  const rc: number = addon.mapSetWakeFd(map.ops, fd);
  if (rc < 0) {
    addon.closeFd(fd);
    throw new KernelError(-rc, 'cannot hand the ring its eventfd');
  }
  wakeFds.set(map, fd);
  map.onDestroyHooks.push(() => {
    wakeFds.delete(map);
    addon.closeFd(fd);
  });
  return fd;
}
