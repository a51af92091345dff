// Child processes for the benchmarks: line-oriented stdout, waits that always
// time out, and cleanup that reaches the whole process group (a `bpftime`
// CLI run is node plus the program it starts).
import { spawn, ChildProcess } from 'node:child_process';
import readline from 'node:readline';

const live = new Set<Proc>();

// Whatever happens to the harness, nothing it started outlives it.
process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: 'pipe' | 'ignore';
}

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private cursor = 0;
  private stderrText = '';
  private waiters = new Set<() => void>();
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;

  constructor(cmd: string, args: string[], opts: StartOptions = {}) {
    this.name = cmd.split('/').pop() ?? cmd;
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so kill() reaches grandchildren
    });
    live.add(this);
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.wake();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderrText = (this.stderrText + d.toString()).slice(-8192);
    });
    // Writes to a child that already died must not crash the harness.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exit) return;
        this.exit = { code, signal };
        live.delete(this);
        this.wake();
        resolve();
      };
      this.child.on('exit', done);
      this.child.on('error', (e) => { this.stderrText += `\n${e.message}`; done(127, null); });
    });
  }

  private wake(): void { for (const w of [...this.waiters]) w(); }

  get stderr(): string { return this.stderrText; }

  write(s: string): void { this.child.stdin?.write(s); }

  // The next stdout line (after earlier matches) matching `re`.
  waitFor(re: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const finish = (fn: () => void) => { clearTimeout(timer); this.waiters.delete(check); fn(); };
      const check = () => {
        for (; this.cursor < this.lines.length; this.cursor++) {
          const m = re.exec(this.lines[this.cursor]);
          if (m) { this.cursor++; return finish(() => resolve(m)); }
        }
        if (this.exit) {
          finish(() => reject(new Error(`${this.name} exited (${this.exitText()}) before ${what}${this.stderrTail()}`)));
        }
      };
      timer = setTimeout(() => finish(() => reject(new Error(
        `${this.name}: no ${what} within ${(timeoutMs / 1000).toFixed(0)} s${this.stderrTail()}`))), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  // The last stdout line seen so far matching `re`.
  lastMatch(re: RegExp): RegExpMatchArray | null {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const m = re.exec(this.lines[i]);
      if (m) return m;
    }
    return null;
  }

  kill(sig: NodeJS.Signals): void {
    if (this.exit || this.child.pid === undefined) return;
    try { process.kill(-this.child.pid, sig); } catch { /* already gone */ }
  }

  // Ask politely (the tools print a final block on SIGINT), then insist.
  async stop(sig: NodeJS.Signals = 'SIGINT', graceMs = 5000): Promise<void> {
    this.kill(sig);
    await Promise.race([this.exited, sleep(graceMs)]);
    if (!this.exit) {
      this.kill('SIGKILL');
      await Promise.race([this.exited, sleep(2000)]);
    }
  }

  // Wait for a natural exit, killing after timeoutMs.
  async wait(timeoutMs: number): Promise<void> {
    await Promise.race([this.exited, sleep(timeoutMs)]);
    if (!this.exit) await this.stop('SIGKILL', 2000);
  }

  exitText(): string {
    if (!this.exit) return 'running';
    return this.exit.signal ? `signal ${this.exit.signal}` : `status ${this.exit.code}`;
  }

  // The child's own explanation, for n/a reasons: its last few stderr lines.
  stderrTail(lines = 3): string {
    const tail = this.stderrText.trim().split('\n').filter(Boolean).slice(-lines);
    return tail.length ? `: ${tail.join(' | ')}` : '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function killAll(): void { for (const p of live) p.kill('SIGKILL'); }
