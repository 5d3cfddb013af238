/**
 * Quotes arguments for a POSIX shell, so a printed command line runs as printed: words of safe
 * characters stay bare (run names, paths, flags), anything else goes in single quotes.
 */
const SAFE = /^[A-Za-z0-9_\-./=:,@+%]+$/;

export function shellQuote(argument: string): string {
  if (SAFE.test(argument)) return argument;
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

export function shellCommandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
