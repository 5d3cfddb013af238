/**
 * Jinja2's `selectattr` / `rejectattr` for @huggingface/jinja's interpreter. Jinja2 reads each
 * item's attribute (Undefined when the item has none) and applies the test to it; the library
 * (0.5.11, and 0.5.13 still) counts a missing attribute as failing every test. So
 * `messages | selectattr("tool_calls", "undefined")` — Mistral's v3 chat templates (Mistral-7B v0.3,
 * Mistral-Nemo) select the plain turns this way before checking that roles alternate — selects
 * nothing there, and a dialogue transformers refuses would render. This module replaces the two
 * filters on the interpreter's prototype (once, on import) when the call has only string arguments
 * over a list of objects; anything else goes to the library, which reports its own errors.
 */
import { Environment, Interpreter } from '@huggingface/jinja';

interface RuntimeValue {
  type: string;
  value: unknown;
  __bool__(): { value: boolean };
}
interface Node {
  type: string;
  value?: unknown;
  callee?: Node;
  args?: Node[];
}
type ApplyFilter = (this: Interpreter, operand: RuntimeValue, filter: Node, environment: Environment) => RuntimeValue;
type Test = (operand: RuntimeValue, ...args: RuntimeValue[]) => boolean;

const prototype = Interpreter.prototype as unknown as {
  applyFilter: ApplyFilter;
  evaluate: (node: Node, environment: Environment) => RuntimeValue;
  __itlSelectAttr?: boolean;
};

/** The library's Undefined value class: what a name nobody declared evaluates to. */
const UndefinedValue = (new Environment().lookupVariable('\u0000') as object).constructor as new () => RuntimeValue;

const isObject = (value: RuntimeValue): boolean => value.type === 'ObjectValue' || value.type === 'NamespaceValue';

/**
 * Jinja2's attribute getter for selectattr: dotted paths, integer parts index lists, Undefined when
 * the last part is missing; reading on through a missing part is Jinja2's UndefinedError.
 */
function attribute(item: RuntimeValue, path: string): RuntimeValue {
  let value = item;
  for (const part of path.split('.')) {
    if (value.type === 'UndefinedValue') throw new Error(`selectattr/rejectattr '${path}': no attribute before '${part}'`);
    if (isObject(value)) value = (value.value as Map<string, RuntimeValue>).get(part) ?? new UndefinedValue();
    else if (value.type === 'ArrayValue' && /^\d+$/.test(part))
      value = (value.value as RuntimeValue[])[Number(part)] ?? new UndefinedValue();
    else return new UndefinedValue();
  }
  return value;
}

if (!prototype.__itlSelectAttr) {
  const applyFilter = prototype.applyFilter;
  prototype.applyFilter = function selectOrReject(operand, filter, environment) {
    const name = filter.type === 'CallExpression' && filter.callee?.type === 'Identifier' ? filter.callee.value : undefined;
    const args = filter.args ?? [];
    const handled =
      (name === 'selectattr' || name === 'rejectattr') &&
      operand.type === 'ArrayValue' &&
      (operand.value as RuntimeValue[]).every(isObject) &&
      args.length > 0 &&
      args.every((arg) => arg.type === 'StringLiteral');
    if (!handled) return applyFilter.call(this, operand, filter, environment);
    const [path, testName, ...testArgs] = args.map((arg) => prototype.evaluate.call(this, arg, environment));
    let test: Test = (value) => value.__bool__().value;
    if (testName !== undefined) {
      const named = (environment as unknown as { tests: Map<string, Test> }).tests.get(testName.value as string);
      if (named === undefined) throw new Error(`Unknown test: ${String(testName.value)}`);
      test = named;
    }
    const keep = name === 'selectattr';
    const items = (operand.value as RuntimeValue[]).filter((item) => test(attribute(item, path!.value as string), ...testArgs) === keep);
    return new (operand.constructor as new (value: RuntimeValue[]) => RuntimeValue)(items);
  };
  prototype.__itlSelectAttr = true;
}
