// The checkout this CLI runs from (dist/src-ts/cli/ is three levels below it).
import * as path from 'path';

export const projectRoot = path.resolve(__dirname, '..', '..', '..');
