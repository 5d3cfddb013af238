/**
 * Bad input: each failure names the file/line or the numbers, and leaves no output folder (nor a
 * temporary one) behind.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildFactsDataset, type BuildOptions } from '../buildFactsDataset.js';
import { shippedAtomsDir, shippedTemplatesDir } from '../shippedPaths.js';

const root = mkdtempSync(join(tmpdir(), 'itl-data-bad-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** Fresh copies of the shipped atoms and templates, edited by `edit`, and an output path in its own folder. */
function setup(edit: (dirs: { atoms: string; templates: string }) => void = () => {}): BuildOptions & { parent: string } {
  const parent = join(root, `case-${counter++}`);
  const atoms = join(parent, 'atoms');
  const templates = join(parent, 'templates');
  mkdirSync(parent);
  cpSync(shippedAtomsDir, atoms, { recursive: true });
  cpSync(shippedTemplatesDir, templates, { recursive: true });
  edit({ atoms, templates });
  return {
    parent,
    people: 20,
    seed: 1,
    atomsDir: atoms,
    templatesDir: templates,
    outDir: join(parent, 'out'),
    force: false,
    previewRows: 8,
    maxShardBytes: 500e6,
  };
}

async function expectFailure(options: BuildOptions & { parent: string }, message: RegExp, code = 'ITL_DATA'): Promise<void> {
  await expect(buildFactsDataset(options)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  expect(readdirSync(options.parent).sort()).toEqual(['atoms', 'templates']);
}

test('a missing atom file is named', async () => {
  const options = setup(({ atoms }) => rmSync(join(atoms, 'cities.txt')));
  await expectFailure(options, /cannot read atom file .*atoms\/cities\.txt/, 'ITL_IO');
});

test('an empty atom file is named', async () => {
  const options = setup(({ atoms }) => writeFileSync(join(atoms, 'occupations.txt'), ''));
  await expectFailure(options, /atom file .*occupations\.txt is empty/);
});

test('a blank line, a repeated item and a two-word name are reported with file and line', async () => {
  await expectFailure(
    setup(({ atoms }) => writeFileSync(join(atoms, 'countries.txt'), 'Peru\n\nChile\n')),
    /countries\.txt:2: empty line/,
  );
  await expectFailure(
    setup(({ atoms }) => writeFileSync(join(atoms, 'cities.txt'), 'Lima\nQuito\nLima\n')),
    /cities\.txt:3: 'Lima' repeats line 1/,
  );
  await expectFailure(
    setup(({ atoms }) => writeFileSync(join(atoms, 'last_names.txt'), 'Ashby\nVan Dyke\n')),
    /last_names\.txt:2: a name must be one word/,
  );
});

test('fewer name pairs than people: the numbers are given', async () => {
  const options = setup(({ atoms }) => {
    writeFileSync(join(atoms, 'first_names.txt'), 'Ada\nBel\nCor\n');
    writeFileSync(join(atoms, 'last_names.txt'), 'Ashby\nCrane\n');
  });
  await expectFailure({ ...options, people: 7 }, /7 people requested but the atoms give only 3 first names × 2 last names = 6 distinct/);
  // Exactly as many pairs as people works, and uses every pair once.
  await buildFactsDataset({ ...options, people: 6 });
  const names = readFileSync(join(options.outDir, 'preview.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l).name);
  expect(new Set(names).size).toBe(2); // preview holds 8 rows: two people
});

test('missing, empty, unparsable and failing templates are named', async () => {
  await expectFailure(
    setup(({ templates }) => rmSync(join(templates, 'birth_place.question.jinja'))),
    /cannot read template .*birth_place\.question\.jinja/,
    'ITL_IO',
  );
  await expectFailure(
    setup(({ templates }) => writeFileSync(join(templates, 'occupation.answer.jinja'), '  \n')),
    /template .*occupation\.answer\.jinja is empty/,
  );
  await expectFailure(
    setup(({ templates }) => writeFileSync(join(templates, 'birth_date.question.jinja'), 'When was {{ name born?')),
    /template .*birth_date\.question\.jinja does not parse/,
  );
  await expectFailure(
    setup(({ templates }) => writeFileSync(join(templates, 'current_address.question.jinja'), 'Where does {{ name.nope() }} live?')),
    /template .*current_address\.question\.jinja failed to render for \S+ \S+:/,
  );
  await expectFailure(
    setup(({ templates }) => writeFileSync(join(templates, 'birth_place.answer.jinja'), '{{ name }} was born somewhere.')),
    /template .*birth_place\.answer\.jinja rendered '.* was born somewhere\.' for .*, which does not contain the value/,
  );
});

test('an existing output folder is kept unless --force, which replaces only an earlier build', async () => {
  const options = setup();
  mkdirSync(options.outDir);
  writeFileSync(join(options.outDir, 'keep.txt'), 'mine');
  await expect(buildFactsDataset(options)).rejects.toMatchObject({
    code: 'ITL_IO',
    message: expect.stringMatching(/out already exists \(pass --force/),
  });
  await expect(buildFactsDataset({ ...options, force: true })).rejects.toMatchObject({
    code: 'ITL_IO',
    message: expect.stringContaining('--force will not replace'),
  });
  expect(readdirSync(options.outDir)).toEqual(['keep.txt']);

  rmSync(join(options.outDir, 'keep.txt'));
  await buildFactsDataset(options);
  await buildFactsDataset({ ...options, seed: 2, force: true });
  expect(readdirSync(options.outDir).sort()).toEqual(['dataset', 'facts.sqlite', 'manifest.json', 'preview.jsonl']);
  expect(JSON.parse(readFileSync(join(options.outDir, 'manifest.json'), 'utf8')).seed).toBe(2);
  expect(readdirSync(options.parent).sort()).toEqual(['atoms', 'out', 'templates']);
});

test('a failure mid-build removes the temporary folder and leaves an existing output untouched', async () => {
  const options = setup(({ templates }) =>
    // Renders for the first people, then fails: the error comes after files were started.
    writeFileSync(
      join(templates, 'occupation.answer.jinja'),
      '{{ name }} works as {{ value }}.{{ value.nope() if first_name.startswith("Zel") and last_name.startswith("Wh") else "" }}',
    ),
  );
  const all = setup();
  await buildFactsDataset({ ...all, people: 3000, outDir: options.outDir, previewRows: 12000 });
  const before = readFileSync(join(options.outDir, 'manifest.json'), 'utf8');
  // Only Zel… Wh… people fail; with this seed the first comes after some 1,000-row batches were written.
  const names = readFileSync(join(options.outDir, 'preview.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l).name as string);
  expect(names.findIndex((name) => /^Zel\S* Wh/.test(name))).toBeGreaterThan(2000);
  await expect(buildFactsDataset({ ...options, people: 3000, force: true })).rejects.toMatchObject({
    code: 'ITL_DATA',
    message: expect.stringMatching(/occupation\.answer\.jinja failed to render for Zel\S* Wh/),
  });
  expect(readFileSync(join(options.outDir, 'manifest.json'), 'utf8')).toBe(before);
  expect(readdirSync(options.parent).sort()).toEqual(['atoms', 'out', 'templates']);
  expect(existsSync(join(options.parent, `.out.partial-${process.pid}`))).toBe(false);
});
