/**
 * What the commands that run a model on token ids share (`itl forward`, `itl generate`): the model's
 * options — folder, adapter, compute dtype, device — and the parsing of a list of ids.
 */
import type { Argv } from 'yargs';

import { ItlError } from '../errors.js';

/** --model, --adapter, --dtype and --device, as Model.load takes them. */
export function withModelOptions<T>(y: Argv<T>) {
  return y
    .option('model', {
      type: 'string',
      demandOption: true,
      describe: 'a Hugging Face model folder, ORG/NAME under $ITL_MODELS, or a cached model',
    })
    .option('adapter', {
      type: 'string',
      describe: 'a PEFT LoRA adapter folder applied to the model (a LoRA checkpoint also works as --model alone)',
    })
    .option('dtype', { choices: ['fp32', 'bf16'] as const, default: 'fp32' as const, describe: 'compute dtype' })
    .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' });
}

/** "1,2,3" -> [1, 2, 3]; ITL_USAGE naming the flag and the bad item otherwise. */
export function parseIds(text: string, flag: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  if (text.trim() === '' || items.some((s) => !/^\d+$/.test(s))) {
    throw new ItlError('ITL_USAGE', `expected comma-separated non-negative integers for ${flag} but received '${text}'`);
  }
  return items.map(Number);
}
