// BTF: the raw reader (btf.ts), type resolution (fields.ts) and the task_struct layout agents
// build their stand-ins from (task_layout.ts).
export { Btf, BtfError } from './btf';
export type { BtfType, BtfMember, BtfArray, BtfInt, BtfEnumValue } from './btf';
export { BtfKind } from './format';
export { resolveType, sizeOf, pointerSize, findMember, fieldPath, findStruct } from './fields';
export type { Field } from './fields';
export { computeTaskLayout } from './task_layout';
export type { TaskLayout } from './task_layout';
