#!/usr/bin/env bash
# `npm test`: lint (scripts/lint.sh), build what changed, then the C++ tests (ctest), the node-gyp build of the same addon,
# and the TypeScript tests (jest). Ends with one line "N passed, N failed" over all of them.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "== lint (Biome, clang-format)"
bash scripts/lint.sh

npm run --silent build

echo "== C++ core tests (ctest)"
ctest --test-dir build-cmake --output-on-failure --output-junit "$results/ctest.xml"

echo "== node-gyp build of the addon"
bash scripts/check-gyp-build.sh

echo "== TypeScript tests (jest)"
node --experimental-vm-modules node_modules/jest/bin/jest.js --json --outputFile="$results/jest.json" "$@"

node - "$results" <<'JS'
const fs = require('node:fs');
const dir = process.argv[2];
const xml = fs.readFileSync(`${dir}/ctest.xml`, 'utf8');
const attr = (name) => Number((xml.match(new RegExp(`<testsuite[^>]*\\s${name}="(\\d+)"`)) || [])[1] || 0);
const jest = JSON.parse(fs.readFileSync(`${dir}/jest.json`, 'utf8'));
const passed = attr('tests') - attr('failures') - attr('skipped') + jest.numPassedTests;
const failed = attr('failures') + jest.numFailedTests;
const skipped = attr('skipped') + jest.numPendingTests + jest.numTodoTests;
console.log(`\nctest: ${attr('tests')} tests; jest: ${jest.numTotalTests} tests in ${jest.numTotalTestSuites} suites`);
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
JS
