/**
 * The models runs can name: the study's, and today's small models of the families beside them. Each
 * has the short name used in run names and result tables, the Hugging Face id the weights come from,
 * its architecture family and the parameter count (embeddings counted once when tied), which places
 * each model on the 'recall vs model size' axis. Ordered by size, which is the colour order of every plot.
 */
/** A model's architecture family (its config.json model_type); chat conventions are lib/tokenize's ChatFamily. */
export type ModelFamily = 'SmolLM' | 'Llama' | 'Qwen2.5' | 'Qwen3' | 'SmolLM3' | 'Mistral';

export interface ModelInfo {
  /** Name inside run names, e.g. `Smol360M` in `sft_Smol360M_facts=…`. */
  shortName: string;
  hfId: string;
  family: ModelFamily;
  /** Total trainable parameters of the base model (tied input/output embeddings counted once). */
  parameters: number;
}

// Counts follow from each config.json (vocab, hidden, intermediate, layers, heads, kv heads, tying);
// the test re-derives those whose config is among the reference files.
export const MODELS: readonly ModelInfo[] = [
  { shortName: 'Smol135M', hfId: 'HuggingFaceTB/SmolLM-135M-Instruct', family: 'SmolLM', parameters: 134_515_008 },
  { shortName: 'Smol360M', hfId: 'HuggingFaceTB/SmolLM-360M-Instruct', family: 'SmolLM', parameters: 361_821_120 },
  { shortName: 'Lam1B', hfId: 'meta-llama/Llama-3.2-1B-Instruct', family: 'Llama', parameters: 1_235_814_400 },
  { shortName: 'Smol1.7B', hfId: 'HuggingFaceTB/SmolLM-1.7B-Instruct', family: 'SmolLM', parameters: 1_711_376_384 },
  { shortName: 'Lam3B', hfId: 'meta-llama/Llama-3.2-3B-Instruct', family: 'Llama', parameters: 3_212_749_824 },
  { shortName: 'Lam8B', hfId: 'meta-llama/Llama-3.1-8B-Instruct', family: 'Llama', parameters: 8_030_261_248 },
];

/**
 * Today's small models of the families the engine implements beside Llama (Qwen2.5, Qwen3, SmolLM3,
 * Mistral): not in the study; `itl grid --family` runs the study's grid on them. Counts follow from
 * each model's config.json (q/k/v biases and q/k norms included).
 */
export const FAMILY_MODELS: readonly ModelInfo[] = [
  { shortName: 'Qwen2.5-0.5B', hfId: 'Qwen/Qwen2.5-0.5B-Instruct', family: 'Qwen2.5', parameters: 494_032_768 },
  { shortName: 'Qwen3-0.6B', hfId: 'Qwen/Qwen3-0.6B', family: 'Qwen3', parameters: 596_049_920 },
  { shortName: 'Qwen2.5-1.5B', hfId: 'Qwen/Qwen2.5-1.5B-Instruct', family: 'Qwen2.5', parameters: 1_543_714_304 },
  { shortName: 'Qwen3-1.7B', hfId: 'Qwen/Qwen3-1.7B', family: 'Qwen3', parameters: 1_720_574_976 },
  { shortName: 'SmolLM3-3B', hfId: 'HuggingFaceTB/SmolLM3-3B', family: 'SmolLM3', parameters: 3_075_098_624 },
  { shortName: 'Qwen2.5-3B', hfId: 'Qwen/Qwen2.5-3B-Instruct', family: 'Qwen2.5', parameters: 3_085_938_688 },
  { shortName: 'Qwen3-4B', hfId: 'Qwen/Qwen3-4B', family: 'Qwen3', parameters: 4_022_468_096 },
  { shortName: 'Mistral-7B', hfId: 'mistralai/Mistral-7B-Instruct-v0.3', family: 'Mistral', parameters: 7_248_023_552 },
  { shortName: 'Qwen2.5-7B', hfId: 'Qwen/Qwen2.5-7B-Instruct', family: 'Qwen2.5', parameters: 7_615_616_512 },
  { shortName: 'Qwen3-8B', hfId: 'Qwen/Qwen3-8B', family: 'Qwen3', parameters: 8_190_735_360 },
  { shortName: 'Mistral-Nemo-12B', hfId: 'mistralai/Mistral-Nemo-Instruct-2407', family: 'Mistral', parameters: 12_247_782_400 },
];

/**
 * `itl demo`'s model (lib/demo/demoModel.ts): not the study's, and made on the machine (no Hugging
 * Face id resolves to it; runs name its folder with --model). Known here so that its run names
 * parse and its results take the same tables and plots.
 */
export const DEMO_MODEL: ModelInfo = { shortName: 'Demo', hfId: 'itl/demo', family: 'SmolLM', parameters: 918_656 };

/** Every model results can name: the demo's, the study's, then the other families' (each list smallest first). */
export const KNOWN_MODELS: readonly ModelInfo[] = [DEMO_MODEL, ...MODELS, ...FAMILY_MODELS];

/** The model with this short name, or undefined. */
export function findModel(shortName: string): ModelInfo | undefined {
  return KNOWN_MODELS.find((m) => m.shortName === shortName);
}

/**
 * The model a directory name refers to: its short name (`Smol135M`), its Hugging Face id with the
 * slash replaced (`HuggingFaceTB__SmolLM-135M-Instruct`), or the id's last part with or without `-Instruct`,
 * compared case-insensitively. The study's base-model result folders use the latter forms.
 */
export function findModelByDirectoryName(name: string): ModelInfo | undefined {
  const wanted = name.toLowerCase();
  return KNOWN_MODELS.find((m) => {
    const id = m.hfId.toLowerCase();
    return (
      m.shortName.toLowerCase() === wanted ||
      id.replace('/', '__') === wanted ||
      id.split('/')[1] === wanted ||
      id.split('/')[1].replace(/-instruct$/, '') === wanted
    );
  });
}
