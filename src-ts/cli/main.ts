// The `bpftime` command line: run tools with the shim, targets with the agent, the server in the
// foreground, and a status view of what the server holds.
// `start` and `load` are what runs most (a process start waits for them): their plain forms are
// run by bin/bpftime, the sh launcher, without Node. Here (`node bin/bpftime.js start ...`) they
// are parsed without loading commander or the other commands' modules and handed to it.
import type { Command as CommandT } from 'commander';
import { runWith } from './run';
import { defaultRuntimeDir } from './runtime';

/** `[--runtime-dir D] start [--no-follow] [--] CMD ARGS...` or `... load [--] CMD ARGS...`;
 * null for anything else (help, errors, other commands: commander handles those). */
function plainRun(args: string[]): { kind: 'shim' | 'agent'; dir?: string; follow: boolean; cmd: string; args: string[] } | null {
  let i = 0;
  let dir: string | undefined;
  if (args[i] === '--runtime-dir' && args.length > i + 1) {
    dir = args[i + 1];
    i += 2;
  } else if (args[i]?.startsWith('--runtime-dir=')) {
    dir = args[i].slice('--runtime-dir='.length);
    i++;
  }
  const verb = args[i++];
  if (verb !== 'start' && verb !== 'load') return null;
  let follow = true;
  if (verb === 'start' && args[i] === '--no-follow') {
    follow = false;
    i++;
  }
  let dashdash = false;
  if (args[i] === '--') {
    dashdash = true;
    i++;
  }
  const cmd = args[i];
  if (!cmd || (cmd.startsWith('-') && !dashdash)) return null;
  return { kind: verb === 'start' ? 'agent' : 'shim', dir, follow, cmd, args: args.slice(i + 1) };
}

export function main(argv: string[]): void {
  const plain = plainRun(argv.slice(2));
  if (plain) {
    runWith(plain.kind, plain.cmd, plain.args, plain.dir ?? defaultRuntimeDir(), { follow: plain.follow }).then((code) => process.exit(code));
    return;
  }
  const { Command } = require('commander') as typeof import('commander');
  const { showStatus } = require('./status') as typeof import('./status');
  const { attachCommand, detachCommand } = require('./attach') as typeof import('./attach');
  const program: CommandT = new Command();
  program
    .name('bpftime')
    .description('Userspace eBPF: stock eBPF tools run unmodified, traced processes run the programs')
    .enablePositionalOptions()
    .option('--runtime-dir <dir>', 'where the server socket lives (default: $BPFTIME_RUNTIME_DIR, $XDG_RUNTIME_DIR/bpftime or /tmp/bpftime-UID)');

  const runtimeDir = (): string => program.opts().runtimeDir ?? defaultRuntimeDir();

  program
    .command('load')
    .description('run an eBPF tool (opensnoop, bpftrace, your libbpf program...) with its bpf() calls served in userspace')
    .argument('<cmd>', 'the tool')
    .argument('[args...]', 'its arguments')
    .passThroughOptions()
    .action(async (cmd: string, args: string[]) => process.exit(await runWith('shim', cmd, args, runtimeDir())));

  program
    .command('start')
    .description('run a program with the agent, so the tools attached through bpftime trace it')
    .option('--no-follow', 'trace this process only: what it starts or execs runs without the agent')
    .argument('<cmd>', 'the program')
    .argument('[args...]', 'its arguments')
    .passThroughOptions()
    .action(async (cmd: string, args: string[], opts: { follow: boolean }) =>
      process.exit(await runWith('agent', cmd, args, runtimeDir(), { follow: opts.follow })));

  program
    .command('attach')
    .description('load the agent into a running process (ptrace: same user with ptrace allowed, or root)')
    .option('--no-follow', 'trace this process only: what it forks or execs from now on runs without the agent')
    .argument('<pid>', 'the process')
    .action(async (pid: string, opts: { follow: boolean }) => process.exit(await attachCommand(pid, runtimeDir(), opts)));

  program
    .command('detach')
    .description("remove every hook from a process's agent and stop it; the process runs on")
    .argument('<pid>', 'the process')
    .action(async (pid: string) => process.exit(await detachCommand(pid, runtimeDir())));

  program
    .command('serve')
    .description('run the syscall server in the foreground, logging to stderr')
    .option('--idle-timeout <ms>', 'exit after this many ms without clients (0: never)', '0')
    .option('--agents-from-any-uid', 'let traced processes of other users connect (daemons that drop root, e.g. postgres); they may only be agents')
    .action((opts: { idleTimeout: string; agentsFromAnyUid?: boolean }) => {
      const { runServer } = require('../server/main') as typeof import('../server/main');
      if (!runServer(runtimeDir(), Number(opts.idleTimeout), opts.agentsFromAnyUid || undefined)) {
        console.error(`bpftime serve: a server already runs in ${runtimeDir()} (see \`bpftime status\`)`);
        process.exit(1);
      }
    });

  program
    .command('status')
    .description('show the server, its clients, objects and attachments')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => process.exit(await showStatus(runtimeDir(), !!opts.json)));

  program.parse(argv);
}
