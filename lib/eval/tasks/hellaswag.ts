/** HellaSwag as lm-evaluation-harness 0.4.8's `hellaswag` task scores it (lib/eval/hellaswagData.ts makes its documents). */
import { readHellaswag } from '../hellaswagData.js';
import { multipleChoiceTask } from './multipleChoiceTask.js';

export const hellaswagTask = multipleChoiceTask({
  name: 'hellaswag',
  describe: 'HellaSwag as lm-evaluation-harness 0.4.8 scores it (acc, acc_norm; zero-shot log-likelihood of the four endings)',
  dataFlag: 'hellaswag',
  dataDescribe: 'the validation set, as the official jsonl or a Hugging Face on-disk dataset folder',
  limitFlag: 'hellaswag-limit',
  readDocs: (path, limit) => readHellaswag(path, { limit }),
  columnPrefix: 'hellaswag',
  rules: 'lm-evaluation-harness 0.4.8 hellaswag (zero-shot, loglikelihood)',
});
