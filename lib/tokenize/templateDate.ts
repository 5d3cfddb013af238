/**
 * The date a chat template sees. Llama 3's template prints `date_string` when given one; SmolLM3's
 * calls `strftime_now` unconditionally, which transformers (and @huggingface/jinja) answer with
 * today's date: token ids would change from day to day. We answer it with the run's fixed date (the
 * same `date_string`, "26 Jul 2024" by default), formatted as Python's strftime does in the C locale.
 */
import { ItlError } from '../errors.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export interface TemplateDate {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
}

/** Parses a `date_string` of Llama 3's form, "26 Jul 2024" (strftime "%d %b %Y"). */
export function parseDateString(text: string): TemplateDate {
  const match = /^(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})$/.exec(text);
  const month = match ? MONTHS.findIndex((name) => name.startsWith(match[2]!)) + 1 : 0;
  const day = match ? Number(match[1]) : 0;
  if (!match || month === 0 || day < 1 || day > new Date(Date.UTC(Number(match[3]), month, 0)).getUTCDate()) {
    throw new ItlError('ITL_USAGE', `date string '${text}': expected a date like '26 Jul 2024' (day, English month abbreviation, year)`);
  }
  return { year: Number(match[3]), month, day };
}

/** Python's date.strftime(format) in the C locale, for the directives chat templates use. */
export function strftime(date: TemplateDate, format: string): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return format.replace(/%./g, (directive) => {
    switch (directive) {
      case '%d':
        return pad(date.day);
      case '%m':
        return pad(date.month);
      case '%Y':
        return String(date.year);
      case '%y':
        return pad(date.year % 100);
      case '%B':
        return MONTHS[date.month - 1]!;
      case '%b':
        return MONTHS[date.month - 1]!.slice(0, 3);
      case '%%':
        return '%';
      default:
        throw new ItlError(
          'ITL_DATA',
          `the chat template asks strftime_now for '${directive}', which itl does not format (only %d %m %Y %y %B %b %%)`,
        );
    }
  });
}
