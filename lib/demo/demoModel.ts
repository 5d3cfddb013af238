/**
 * The demo's model: a LLaMA of about a million parameters in Hugging Face layout, SmolLM-shaped
 * (tied embeddings, grouped-query attention, SmolLM's special-token ids) over the project's own
 * byte-level tokenizer. Small enough that pre-training, four fine-tuning runs and their
 * evaluations fit in a few minutes on two CPU cores.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { DEMO_TOKENIZER_SIZE } from './demoTokenizer.js';

export interface DemoShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
}

export const DEMO_SHAPE: DemoShape = { hidden: 128, intermediate: 384, layers: 4, heads: 4, kvHeads: 2 };

export function demoModelConfig(shape: DemoShape = DEMO_SHAPE): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: DEMO_TOKENIZER_SIZE,
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    head_dim: shape.hidden / shape.heads,
    hidden_act: 'silu',
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 2,
    torch_dtype: 'float32',
  };
}

/** Parameters of a demo-shaped model (tied embeddings counted once), as lib/train/models.ts lists them. */
export function demoParameterCount(shape: DemoShape = DEMO_SHAPE): number {
  const headDim = shape.hidden / shape.heads;
  const attention = 2 * shape.hidden * shape.heads * headDim + 2 * shape.hidden * shape.kvHeads * headDim;
  const mlp = 3 * shape.hidden * shape.intermediate;
  return DEMO_TOKENIZER_SIZE * shape.hidden + shape.layers * (attention + mlp + 2 * shape.hidden) + shape.hidden;
}

/** Writes config.json (the shape the native init reads) into `dir`. */
export async function writeDemoConfig(dir: string, shape: DemoShape = DEMO_SHAPE): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(demoModelConfig(shape), null, 2)}\n`);
}
