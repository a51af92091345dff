// Stock libbpf-tools bashreadline (Debian's binary, unmodified): a uretprobe on readline() in
// /bin/bash reads the returned line with bpf_probe_read_user_str. An interactive bash on a pty,
// started under the agent, types three commands; each is reported once with bash's pid, in order,
// as on the kernel (where the same session gives the reference).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Proc, cli } from './harness';
import { kernelToolsUsable, toolOnPty, waitAttached, waitLines, withServer } from './tools';

const bashreadline = '/usr/sbin/bashreadline';
const tag = `brl-${process.pid}`;
const COMMANDS = [`echo ${tag}-one`, `true ${tag}-two`, `: ${tag} three`];

/** An interactive bash on a pty (under the agent when env is given); returns it and its pid. */
async function interactiveBash(env?: NodeJS.ProcessEnv): Promise<{ bash: Proc; pid: string }> {
  const cmd = env ? `${process.execPath} ${cli} start /bin/bash --norc --noprofile -i` : '/bin/bash --norc --noprofile -i';
  const bash = new Proc('script', ['-q', '-f', '-e', '-c', cmd, '/dev/null'], { ...(env ?? process.env), PS1: '$ ' }, { stdin: true });
  bash.write('echo "bash-pid=$$"\n');
  const pid = (await bash.waitFor(/bash-pid=(\d+)/))[1];
  return { bash, pid };
}

async function typeCommands(bash: Proc): Promise<void> {
  for (const c of COMMANDS) bash.write(`${c}\n`);
  bash.write(`echo "${tag}-end"\n`);
  await bash.waitFor(new RegExp(`^${tag}-end`, 'm'));
}

/** The commands reported for pid, in order. */
function reported(out: string, pid: string): string[] {
  const re = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+${pid}\\s+(.*?)\\r?$`);
  return out.split('\n').flatMap((l) => {
    const m = re.exec(l);
    return m ? [m[1]] : [];
  });
}

test('bashreadline reports the lines an interactive bash reads', { skip: !fs.existsSync(bashreadline) && 'libbpf-tools not installed', timeout: 90000 }, async (t) => {
  let shimLines: string[] = [];
  await withServer(async (env, dir, procs) => {
    const tool = toolOnPty(bashreadline, env);
    procs.push(tool);
    await tool.waitFor(/TIME\s+PID\s+COMMAND/);
    await waitAttached(dir, 1);
    const { bash, pid } = await interactiveBash(env);
    procs.push(bash);
    await typeCommands(bash);
    await waitLines(tool, new RegExp(`\\s${pid}\\s+echo "${tag}-end"`), 1);
    shimLines = reported(tool.out, pid);
    assert.deepEqual(shimLines, ['echo "bash-pid=$$"', ...COMMANDS, `echo "${tag}-end"`]);
  });

  // The kernel as reference: the same session under the kernel's uretprobe.
  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const tool = toolOnPty(bashreadline);
  let bash: Proc | undefined;
  try {
    await tool.waitFor(/TIME\s+PID\s+COMMAND/, 20000);
    ({ bash } = await interactiveBash());
    const pid = (bash.out.match(/bash-pid=(\d+)/) ?? [])[1];
    await typeCommands(bash);
    await waitLines(tool, new RegExp(`\\s${pid}\\s+echo "${tag}-end"`), 1);
    assert.deepEqual(shimLines, reported(tool.out, pid!));
  } finally {
    await bash?.stop('SIGKILL');
    await tool.stop('SIGINT');
  }
});
