// Ring buffers stored in maps of maps (test/programs/inner_ringbuf.bpf.c, inner_ringbuf.c): a
// uprobe program in a victim started with `bpftime start` outputs into the rings it looks up in an
// ARRAY_OF_MAPS and a HASH_OF_MAPS; the tool, which reached the inner rings through their ids,
// sleeps in ring_buffer__poll (epoll) and must be woken by the records, as on the kernel: the
// agent gets each inner ring's eventfd with the ring itself. Same output as the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { buildVictimLoader, haveLibbpfTools, victimLoaderEverywhere } from './libbpf-program';

const skip = !haveLibbpfTools && 'needs clang, cc and libbpf-dev';

test('inner ring buffers wake their epoll consumer, as on the kernel', { skip, timeout: 180000 }, (t) => {
  const dir = tmpRuntimeDir();
  const b = buildVictimLoader('inner_ringbuf', 'inner_ringbuf', dir);
  victimLoaderEverywhere(t, b, (out) => {
    assert.match(out, /^outer_hash\[3\]: type 27 max_entries 4096\nconsumer ready\n/m);
    assert.match(out, /\na: ring=0 op=0 n=1 size=12\na: ring=0 op=2 n=5 size=12\nb: ring=0 op=1 n=2 size=12\nb: ring=0 op=3 n=4 size=12\nh: ring=1 op=3 n=4 size=12\n/);
    assert.match(out, /^records: 5, poll timed out: no, woken: yes$/m);
  }, 'outer_arr[0]:', { timeout: 90000 });
  fs.rmSync(dir, { recursive: true, force: true });
});
