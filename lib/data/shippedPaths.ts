/**
 * Where the atoms and templates shipped with the package live. tsc does not copy non-TS files, so
 * they stay under lib/data/ and are found from the package root, which is two levels above this
 * module both as source (lib/data/) and compiled (dist/data/).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const shippedAtomsDir = join(packageRoot, 'lib', 'data', 'atoms');
export const shippedTemplatesDir = join(packageRoot, 'lib', 'data', 'templates');
