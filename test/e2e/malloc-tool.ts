// Reading the output of examples/malloc/malloc (the uprobe tool several tests attach): blocks of
// `pid=N count=M` lines (cumulative malloc counts per process) ended by `--`.
import { Proc } from './harness';

/** The latest cumulative count the tool printed for pid (0 when it has not printed the pid). */
export function latestCount(out: string, pid: number): number {
  let count = 0;
  for (const m of out.matchAll(new RegExp(`^pid=${pid} count=(\\d+)$`, 'gm'))) count = Number(m[1]);
  return count;
}

/** Waits until the tool has printed two blocks in a row with the same count for pid. */
export async function settledCount(t: Proc, pid: number): Promise<number> {
  let prev = -1;
  for (let i = 0; i < 20; i++) {
    await t.waitFor(/--\n/, 10000, t.out.length); // the next block the tool prints
    const c = latestCount(t.out, pid);
    if (c === prev) return c;
    prev = c;
  }
  throw new Error(`count for pid ${pid} never settled:\n${t.out}`);
}
