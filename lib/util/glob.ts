/**
 * Shell-style name patterns for selecting runs (`sft_Smol135M_*`): `*` is any run of characters,
 * `?` one character, everything else literal; the whole name must match. Run names contain `.`,
 * `=` and `-`, so they are escaped rather than read as regular-expression syntax. A small
 * converter rather than a dependency: path.matchesGlob is still experimental in Node 20.
 */
export function hasGlobCharacters(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const character of pattern) {
    if (character === '*') source += '.*';
    else if (character === '?') source += '.';
    else source += character.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export function matchesGlob(name: string, pattern: string): boolean {
  return globToRegExp(pattern).test(name);
}
