// BPF_BTF_LOAD: keeps the BTF a tool loads (libbpf loads its program's BTF and probes for
// BTF features this way). The header is validated as btf_parse_hdr() does; the type section is
// stored as given (deeper validation is the BTF module's job as it grows).
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { ObjKind } from '../../kernel/objects';
import { BpfBtf } from '../../kernel/btf';
import { CallContext, Struct } from './context';
import { checkLogAttrs, writeLog } from './bpf';

const A = U.bpf_attr.btf_load;
const BTF_MAGIC = 0xeb9f;
const BTF_MAX_SIZE = 16 * 1024 * 1024;

export function btfLoad(ctx: CallContext, attr: Struct): bigint {
  const size = attr.u32(A.btf_size);
  const logBuf = attr.u64(A.btf_log_buf);
  const logSize = attr.u32(A.btf_log_size);
  const logLevel = attr.u32(A.btf_log_level);
  if (size > BTF_MAX_SIZE) throw new KernelError(Errno.E2BIG, 'BTF too large');
  checkLogAttrs(logBuf, logSize, logLevel);
  const data = Buffer.from(ctx.mem.read(attr.u64(A.btf), size));
  const problem = validateHeader(data);
  if (problem) {
    writeLog(ctx, logBuf, logSize, logLevel, problem + '\n');
    throw new KernelError(Errno.EINVAL, problem);
  }
  const k = ctx.kernel;
  const btf = k.registry.add(new BpfBtf(k.registry.allocId(ObjKind.Btf), data));
  return ctx.returnFd(btf);
}

function validateHeader(d: Buffer): string | null {
  if (d.length < 24) return 'btf_header not found';
  if (d.readUInt16LE(0) !== BTF_MAGIC) return 'Invalid magic';
  if (d[2] !== 1) return 'Unsupported version';
  if (d[3] !== 0) return 'Unsupported flags';
  const hdrLen = d.readUInt32LE(4);
  if (hdrLen < 24 || hdrLen > d.length) return 'Unsupported btf_header';
  const typeOff = d.readUInt32LE(8), typeLen = d.readUInt32LE(12);
  const strOff = d.readUInt32LE(16), strLen = d.readUInt32LE(20);
  const body = d.length - hdrLen;
  if (typeOff % 4) return 'Unaligned type_off';
  if (typeOff + typeLen > body || strOff + strLen > body) return 'Invalid section offset/len';
  if (strLen === 0 || d[hdrLen + strOff + strLen - 1] !== 0) return 'Invalid string section';
  return null;
}
