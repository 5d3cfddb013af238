#!/usr/bin/env bash
# `npm run lint` (part of `npm test`): the TypeScript and scripts through Biome (biome.jsonc), the C++ of
# native/ through clang-format (.clang-format). Fails, naming the files, on any violation.
# `npm run format` (this script with --write) applies both formatters and Biome's safe fixes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

write=0
[[ ${1:-} == --write ]] && write=1

command -v clang-format >/dev/null || { echo "lint: clang-format is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -t cpp < <(git ls-files 'native/*.h' 'native/*.cpp' 'native/*.cu' | grep -v '/fixtures/')

if ((write)); then
  # Formats everything and applies the safe fixes; what is left to fix by hand is reported after.
  node_modules/.bin/biome check --write . || true
  clang-format -i --style=file "${cpp[@]}"
  exec "$0"
fi

status=0
node_modules/.bin/biome check --error-on-warnings . || status=1
if ! clang-format --dry-run --Werror --style=file "${cpp[@]}" 2>/tmp/itl-clang-format.$$; then
  grep -o '^[^:]*:[0-9]*:' /tmp/itl-clang-format.$$ | cut -d: -f1 | sort -u | sed 's/^/lint: not clang-formatted: /' >&2
  echo "lint: run \`npm run format\`" >&2
  status=1
fi
rm -f /tmp/itl-clang-format.$$
exit $status
