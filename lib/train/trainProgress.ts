/**
 * What a training run shows while it runs: a progress bar (loss, tokens/s, ETA) on a terminal,
 * plain lines otherwise (every logging interval, and every evaluation). Written to stderr, so
 * `--json` output on stdout stays one document.
 */
import cliProgress from 'cli-progress';

import type { TrainingEvent } from '../native/Trainer.js';

export interface TrainProgress {
  onEvent(event: TrainingEvent): void;
  stop(): void;
}

function formatNumber(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toPrecision(digits) : String(value);
}

export function createTrainProgress(options: {
  tty: boolean;
  write: (line: string) => void;
  startStep: number;
  totalSteps: number;
  loggingSteps: number;
}): TrainProgress {
  if (!options.tty) {
    return {
      onEvent(event) {
        const r = event.record;
        if (event.kind === 'eval') {
          options.write(
            `step ${r.step}/${event.totalSteps} epoch ${formatNumber(r.epoch, 3)} eval_loss ${formatNumber(event.record.eval_loss)}\n`,
          );
        } else if (r.step % options.loggingSteps === 0 || r.step === event.totalSteps) {
          const s = event.record;
          options.write(
            `step ${s.step}/${event.totalSteps} epoch ${formatNumber(s.epoch, 3)} loss ${formatNumber(s.loss)} lr ${s.learning_rate.toExponential(2)} ` +
              `grad_norm ${formatNumber(s.grad_norm)} tokens/s ${Math.round(s.tokens_per_s)} padding ${(100 * s.padding_fraction).toFixed(1)}%\n`,
          );
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'train {bar} {value}/{total} | loss {loss} | eval {eval} | {tps} tok/s | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.totalSteps, options.startStep, { loss: '-', eval: '-', tps: '-' });
  return {
    onEvent(event) {
      if (event.kind === 'eval') bar.update({ eval: formatNumber(event.record.eval_loss) });
      else bar.update(event.record.step, { loss: formatNumber(event.record.loss), tps: Math.round(event.record.tokens_per_s) });
    },
    stop() {
      bar.stop();
    },
  };
}
