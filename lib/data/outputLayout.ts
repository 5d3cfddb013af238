/** The files of a `data build` output folder, shared by the builder and the reader. */
export const DATASET_DIR = 'dataset';
export const PREVIEW_FILE = 'preview.jsonl';
export const DATABASE_FILE = 'facts.sqlite';
export const MANIFEST_FILE = 'manifest.json';
