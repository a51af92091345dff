// BPF_PROG_LOAD: copy the program in, resolve its map references (ld_imm64 pseudo forms) to
// map ids plus a relocation table the agents apply, check it, and store the image in the
// program's memfd. Errors come back as the kernel's errno with a kernel-style log in log_buf.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { ObjKind } from '../../kernel/objects';
import { BpfProg, Reloc, RelocKind } from '../../kernel/prog';
import { CallContext, Struct } from './context';
import { checkLogAttrs, objName, writeLog } from './bpf';
import { checkProgram } from '../../verifier/structural';
import { findReachable } from '../../verifier/reachability';
import { MapFuncChecker } from '../../verifier/map_func_compat';
import { callbackTailCall } from '../../verifier/callback_tail';
import { eliminateDeadCode, neutraliseDeadCode } from '../../verifier/dead_code';
import { addon } from '../../native/addon';
import { statsOnNewProg } from './stats';
import { checkTailCallMaps } from './prog_array';

const A = U.bpf_attr.prog_load;
const MAX_INSNS = 1000000; // BPF_COMPLEXITY_LIMIT_INSNS: the limit for privileged loaders
const LD_IMM64 = U.BPF_LD | U.BPF_IMM | U.BPF_DW;
const PROG_FLAGS =
  U.BPF_F_STRICT_ALIGNMENT | U.BPF_F_ANY_ALIGNMENT | U.BPF_F_TEST_STATE_FREQ | U.BPF_F_SLEEPABLE |
  U.BPF_F_TEST_RND_HI32 | U.BPF_F_XDP_HAS_FRAGS;

/** Licenses the kernel treats as GPL-compatible (license_is_gpl_compatible()). */
const GPL_COMPATIBLE = new Set(['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL']);

class LoadError extends KernelError {}

export function progLoad(ctx: CallContext, attr: Struct): bigint {
  const progType = attr.u32(A.prog_type);
  const insnCnt = attr.u32(A.insn_cnt);
  const insnsAddr = attr.u64(A.insns);
  const licenseAddr = attr.u64(A.license);
  const logLevel = attr.u32(A.log_level);
  const logSize = attr.u32(A.log_size);
  const logBuf = attr.u64(A.log_buf);
  const progFlags = attr.u32(A.prog_flags);
  const fdArray = attr.u64(A.fd_array);

  if (progType === 0 || !(Object.values(U.bpf_prog_type) as number[]).includes(progType)) throw new KernelError(Errno.EINVAL, `unknown program type ${progType}`);
  if (progFlags & ~PROG_FLAGS) throw new KernelError(Errno.EINVAL, 'unknown prog_flags');
  if (insnCnt === 0 || insnCnt > MAX_INSNS) throw new KernelError(Errno.E2BIG, `insn_cnt ${insnCnt} is not in 1..${MAX_INSNS}`);
  checkLogAttrs(logBuf, logSize, logLevel);
  const name = objName(attr, A.prog_name);

  // Read everything first: a NeedMemory round trip re-runs this handler from the top.
  const funcInfoLen = attr.u32(A.func_info_rec_size) * attr.u32(A.func_info_cnt);
  const lineInfoLen = attr.u32(A.line_info_rec_size) * attr.u32(A.line_info_cnt);
  ctx.mem.require([
    { addr: insnsAddr, len: insnCnt * 8 },
    { addr: licenseAddr, len: 128, string: true },
    { addr: attr.u64(A.func_info), len: funcInfoLen },
    { addr: attr.u64(A.line_info), len: lineInfoLen },
  ]);
  const insns = Buffer.from(ctx.mem.read(insnsAddr, insnCnt * 8));
  const license = ctx.mem.readString(licenseAddr, 128);
  const fdArrayLen = maxFdArrayIndex(insns) + 1;
  if (fdArrayLen > 0 && fdArray) ctx.mem.require([{ addr: fdArray, len: fdArrayLen * 4 }]);

  const log: string[] = [];
  try {
    const { relocs, maps } = resolveMapRefs(ctx, insns, fdArray, log);
    // Code no path reaches (behind CO-RE existence checks and .rodata knobs) is neither checked
    // nor kept, as in the kernel: libbpf poisons instructions there that must never run.
    const mapFunc = new MapFuncChecker((id) => maps.find((m) => m.id === id)?.spec.mapType);
    const { seen } = findReachable(insns, { readOnlyValue: readOnlyMapValue(maps), onHelperCall: mapFunc.onHelperCall });
    const asLoaded = Buffer.from(insns);
    neutraliseDeadCode(insns, seen);
    const check = checkProgram(insns, progType, progFlags);
    if (!check.ok) {
      log.push(check.log);
      throw new LoadError(Errno.EINVAL, check.log);
    }
    // Maps passed to helpers that may not take them (check_map_func_compatibility).
    const refused = mapFunc.refusal(seen);
    if (refused) {
      log.push(refused.log);
      throw new LoadError(refused.errno, refused.log);
    }
    // Tail calls made by callbacks themselves (callback_tail.ts).
    const cbTail = callbackTailCall(insns, seen);
    if (cbTail) {
      log.push(cbTail.log);
      throw new LoadError(Errno.EINVAL, cbTail.log);
    }
    if (!GPL_COMPATIBLE.has(license) && check.gplOnlyHelper) {
      const msg = `cannot call GPL-restricted function from non-GPL compatible program`;
      log.push(msg);
      throw new LoadError(Errno.EINVAL, msg);
    }
    const live = eliminateDeadCode(insns, seen, relocs);
    log.push(`processed ${insnCnt} insns (limit ${MAX_INSNS}) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0`);
    checkTailCallMaps(ctx.kernel, maps, progType);
    const k = ctx.kernel;
    const id = k.registry.allocId(ObjKind.Prog);
    const prog = new BpfProg(
      id,
      {
        progType,
        expectedAttachType: attr.u32(A.expected_attach_type),
        attachBtfId: attr.u32(A.attach_btf_id),
        insns: live.insns,
        relocs: live.relocs,
        tagInsns: asLoaded,
        tagRelocs: relocs,
        maps,
        license,
        gplCompatible: GPL_COMPATIBLE.has(license),
        btfId: 0,
        loadTime: process.hrtime.bigint(),
        uid: ctx.client.uid,
      },
      name,
    );
    k.registry.add(prog);
    statsOnNewProg(k, prog);
    if (!writeLog(ctx, logBuf, logSize, logLevel, log.join('\n') + '\n')) {
      // The kernel fails a successful load whose log did not fit (ENOSPC) and frees the prog.
      ctx.client.hold(prog);
      ctx.client.releaseIno(prog.ino);
      throw new KernelError(Errno.ENOSPC, 'verifier log truncated');
    }
    return ctx.returnFd(prog);
  } catch (e) {
    if (e instanceof KernelError) writeLog(ctx, logBuf, logSize, logLevel, log.join('\n') + '\n');
    throw e;
  }
}

function maxFdArrayIndex(insns: Buffer): number {
  let max = -1;
  for (let i = 0; i + 1 < insns.length / 8; i++) {
    if (insns[i * 8] !== LD_IMM64) continue;
    const src = insns[i * 8 + 1] >> 4;
    if (src === U.BPF_PSEUDO_MAP_IDX || src === U.BPF_PSEUDO_MAP_IDX_VALUE) max = Math.max(max, insns.readInt32LE(i * 8 + 4));
    i++;
  }
  return max;
}

/** Turns map fds (or fd_array indexes) in ld_imm64 into map ids and relocations, as the kernel's
 * resolve_pseudo_ldimm64() turns them into map pointers. */
function resolveMapRefs(ctx: CallContext, insns: Buffer, fdArray: bigint, log: string[]) {
  const relocs: Reloc[] = [];
  const maps: BpfMap[] = [];
  const n = insns.length / 8;
  const fail = (i: number, msg: string, errno = Errno.EINVAL): never => {
    log.push(`${i}: ${msg}`);
    throw new LoadError(errno, msg);
  };
  for (let i = 0; i < n; i++) {
    const o = i * 8;
    if (insns[o] !== LD_IMM64) continue;
    if (i + 1 >= n || insns[o + 8] !== 0 || (insns[o + 9] & 0xff) !== 0 || insns.readInt16LE(o + 10) !== 0) {
      fail(i, 'invalid bpf_ld_imm64 insn');
    }
    const src = insns[o + 1] >> 4;
    switch (src) {
      case 0:
      case U.BPF_PSEUDO_FUNC:
        break;
      case U.BPF_PSEUDO_MAP_FD:
      case U.BPF_PSEUDO_MAP_VALUE:
      case U.BPF_PSEUDO_MAP_IDX:
      case U.BPF_PSEUDO_MAP_IDX_VALUE: {
        const byIdx = src === U.BPF_PSEUDO_MAP_IDX || src === U.BPF_PSEUDO_MAP_IDX_VALUE;
        const imm = insns.readInt32LE(o + 4);
        if (byIdx && !fdArray) fail(i, 'fd_idx without fd_array is invalid');
        const fd = byIdx ? ctx.mem.read(fdArray + BigInt(imm * 4), 4).readInt32LE(0) : imm;
        let map: BpfMap;
        try {
          map = ctx.objectOf<BpfMap>(fd, ObjKind.Map, 'a map');
        } catch (e) {
          fail(i, `fd ${fd} is not pointing to valid bpf_map`, e instanceof KernelError ? e.errno : Errno.EBADF);
          throw e;
        }
        const isValue = src === U.BPF_PSEUDO_MAP_VALUE || src === U.BPF_PSEUDO_MAP_IDX_VALUE;
        const off = isValue ? insns.readUInt32LE(o + 12) : 0;
        if (isValue) {
          const t = map.spec.mapType;
          if (t !== U.BPF_MAP_TYPE_ARRAY || map.spec.maxEntries !== 1) fail(i, 'map has no direct value access');
          if (off >= map.spec.valueSize) fail(i, `invalid access to map value pointer, value_size=${map.spec.valueSize} off=${off}`, Errno.EACCES);
        }
        if (!maps.includes(map)) maps.push(map);
        relocs.push({ insnIdx: i, kind: isValue ? RelocKind.MapValue : RelocKind.MapPtr, mapId: map.id, off });
        // As in the kernel's xlated dump: the pseudo value names the map by id, never by fd.
        insns[o + 1] = (insns[o + 1] & 0x0f) | ((isValue ? U.BPF_PSEUDO_MAP_VALUE : U.BPF_PSEUDO_MAP_FD) << 4);
        insns.writeInt32LE(map.id, o + 4);
        break;
      }
      case U.BPF_PSEUDO_BTF_ID:
        fail(i, 'kernel symbols (ksym) are not available in userspace', Errno.EINVAL);
        break;
      default:
        fail(i, `unrecognized bpf_ld_imm64 insn`);
    }
    i++;
  }
  return { relocs, maps };
}

/** Reads of frozen maps the program may only read (BPF_F_RDONLY_PROG: .rodata, .kconfig) are
 * constants the verifier may use, as the kernel's bpf_map_direct_read() does. */
function readOnlyMapValue(maps: BpfMap[]) {
  const values = new Map<number, Buffer | null>();
  return (mapId: number, off: number, size: number): bigint | null => {
    if (!values.has(mapId)) {
      const m = maps.find((x) => x.id === mapId);
      const readOnly = m && m.spec.mapType === U.BPF_MAP_TYPE_ARRAY && (m.spec.mapFlags & U.BPF_F_RDONLY_PROG) !== 0 && m.frozen;
      values.set(mapId, readOnly ? (addon.mapLookup(m.ops, Buffer.alloc(4)) as Buffer | null) : null);
    }
    const v = values.get(mapId);
    if (!v || off < 0 || off + size > v.length) return null;
    let x = 0n;
    for (let b = size - 1; b >= 0; b--) x = (x << 8n) | BigInt(v[off + b]);
    return x;
  };
}

export function progBindMap(ctx: CallContext, attr: Struct): bigint {
  const B = U.bpf_attr.prog_bind_map;
  const prog = ctx.objectOf<BpfProg>(attr.s32(B.prog_fd), ObjKind.Prog, 'a program');
  const map = ctx.objectOf<BpfMap>(attr.s32(B.map_fd), ObjKind.Map, 'a map');
  if (attr.u32(B.flags)) throw new KernelError(Errno.EINVAL, 'flags must be 0');
  if (!prog.spec.maps.includes(map)) {
    prog.spec.maps.push(map.acquire());
  }
  return 0n;
}
