/**
 * Renders a chat template with @huggingface/jinja, fast when the template provably treats message
 * contents as opaque text.
 *
 * The interpreter costs ~200 µs per dialogue (most of it allocating runtime values), which would
 * make tokenising 200,000 dialogues take a minute. But when a template only ever *concatenates*
 * a message's content into its output — no filter, test, comparison, slice or branch reads it —
 * the rendering of a dialogue is the rendering of its "shape" (roles, flags) with each content
 * spliced in. `opaqueContentBlocker` proves that on the template's syntax tree; the shape is then
 * rendered once with placeholders and reused. Templates that inspect contents (Llama 3 trims and
 * JSON-quotes them) are rendered directly, every time.
 */
import { Environment, Interpreter, type Template } from '@huggingface/jinja';

import { parseDateString, strftime } from './templateDate.js';

import { withRenderLimits } from './boundedRender.js';
// Jinja2's selectattr/rejectattr on missing attributes (Mistral's templates check role alternation with them).
import './jinjaSelectAttr.js';

type Node = { type: string; [key: string]: unknown };

export interface RenderOptions {
  addGenerationPrompt: boolean;
  dateString: string;
}

export interface RenderMessage {
  role: string;
  content: string;
}

const OUTPUT_BODIES: Record<string, string[]> = { Program: ['body'], If: ['body', 'alternate'], For: ['body', 'defaultBlock'] };
/** Statements that redirect or transform output: content inside them would not reach it verbatim. */
const REFUSED_STATEMENTS = new Set(['Macro', 'CallStatement', 'FilterStatement']);
const STATEMENTS = new Set([
  'Program',
  'If',
  'For',
  'SetStatement',
  'Macro',
  'Comment',
  'Break',
  'Continue',
  'FilterStatement',
  'CallStatement',
]);

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && typeof (value as Node).type === 'string';
}

/** The children that are expressions or statements (not operator tokens, filter/test names or attribute names). */
function children(node: Node): Node[] {
  const out: Node[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'type' || key === 'operator') continue;
    if (node.type === 'MemberExpression' && key === 'property' && node.computed === false) continue;
    if (node.type === 'FilterExpression' && key === 'filter' && isNode(value) && value.type === 'Identifier') continue;
    if (node.type === 'TestExpression' && key === 'test') continue;
    if (node.type === 'KeywordArgumentExpression' && key === 'key') continue;
    if (isNode(value)) out.push(value);
    else if (Array.isArray(value)) out.push(...value.filter(isNode));
    else if (value instanceof Map) for (const [k, v] of value) out.push(...[k, v].filter(isNode));
  }
  return out;
}

/** The name of a member access's attribute (`x.name` or `x['name']`), if it is a constant. */
function attributeName(member: Node): string | undefined {
  const property = member.property as Node;
  if (member.computed === false && property.type === 'Identifier') return property.value as string;
  if (member.computed === true && property.type === 'StringLiteral') return property.value as string;
  return undefined;
}

/**
 * Why the template cannot be rendered by splicing contents into a rendered shape, or null when it
 * can: contents are read only as `<loop variable>.content` of the single loop over `messages`,
 * and only as operands of `+` chains that are output directly.
 */
export function opaqueContentBlocker(program: Node): string | null {
  const loops: Node[] = [];
  const walk = (node: Node, visit: (node: Node, parents: Node[], inOutput: boolean) => void, parents: Node[] = []): void => {
    const outputKeys = OUTPUT_BODIES[node.type] ?? [];
    for (const key of Object.keys(node)) {
      if (outputKeys.includes(key)) {
        for (const child of (node[key] as unknown[]).filter(isNode)) {
          visit(child, [...parents, node], !STATEMENTS.has(child.type));
          walk(child, visit, [...parents, node]);
        }
      }
    }
    for (const child of children(node)) {
      if (outputKeys.some((key) => (node[key] as unknown[]).includes(child))) continue;
      visit(child, [...parents, node], false);
      walk(child, visit, [...parents, node]);
    }
  };
  let blocker: string | null = null;
  const refuse = (reason: string): void => {
    blocker ??= reason;
  };
  walk(program, (node) => {
    if (REFUSED_STATEMENTS.has(node.type)) refuse(`it uses ${node.type}`);
    if (node.type === 'SetStatement' && (node.body as unknown[]).length > 0) refuse('it captures output in a set block');
    if (node.type === 'For' && isNode(node.iterable) && node.iterable.type === 'Identifier' && node.iterable.value === 'messages')
      loops.push(node);
  });
  if (blocker !== null) return blocker;
  if (loops.length !== 1) return `it loops over messages ${loops.length} times`;
  const loopVar = loops[0]!.loopvar as Node;
  if (loopVar.type !== 'Identifier') return 'its message loop unpacks a tuple';
  const name = loopVar.value as string;

  const outputChainTop = (parents: Node[], start: Node): boolean => {
    // Climb `+` operators from the content read; the top must be output directly.
    let child = start;
    for (let i = parents.length - 1; i >= 0; i--) {
      const parent = parents[i]!;
      if (parent.type === 'BinaryExpression' && (parent.operator as { value?: unknown }).value === '+') {
        child = parent;
        continue;
      }
      const keys = OUTPUT_BODIES[parent.type] ?? [];
      return keys.some((key) => (parent[key] as unknown[]).includes(child));
    }
    return false;
  };

  walk(program, (node, parents) => {
    const parent = parents[parents.length - 1];
    if (node.type === 'SetStatement' && isNode(node.assignee) && (node.assignee.value === name || node.assignee.value === 'messages')) {
      refuse(`it reassigns '${String(node.assignee.value)}'`);
    }
    if (node.type === 'For' && node !== loops[0] && isNode(node.loopvar) && node.loopvar.value === name)
      refuse(`it reuses the loop variable '${name}'`);
    if (node.type !== 'Identifier' || parent === undefined) return;
    if (parent.type === 'For' && parent.loopvar === node) return;
    if (node.value === 'messages') {
      if (parent === loops[0] && parent.iterable === node) return;
      if (parent.type === 'FilterExpression' && isNode(parent.filter) && parent.filter.value === 'length') return;
      const grand = parents[parents.length - 2];
      const indexed = parent.type === 'MemberExpression' && parent.object === node && (parent.property as Node).type === 'IntegerLiteral';
      if (indexed && grand?.type === 'MemberExpression' && grand.object === parent && attributeName(grand) === 'role') return;
      refuse("it reads 'messages' other than by looping, counting or reading roles");
    } else if (node.value === name) {
      const attribute = parent.type === 'MemberExpression' && parent.object === node ? attributeName(parent) : undefined;
      if (attribute === 'role') return;
      if (attribute === 'content' && outputChainTop(parents.slice(0, -1), parent)) return;
      refuse(`it reads '${name}' other than its role, or its content other than by concatenating it into the output`);
    }
  });
  return blocker;
}

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** Private-use characters: no template literal contains them, so placeholders are found exactly. */
const PLACEHOLDER = /\uE000(\d+)\uE001/g;

interface Shape {
  segments: string[];
  /** contents[k] goes between segments[k] and segments[k + 1]. */
  contentIndex: number[];
}

export class ChatRenderer {
  private readonly template: Template;
  private readonly variables: Record<string, unknown>;
  private readonly shapes = new Map<string, Shape>();
  /** Why every dialogue is rendered directly; null when shapes are reused. */
  readonly blocker: string | null;

  /** `variables`: the fixed template variables (special tokens), passed to every render. */
  constructor(template: Template, variables: Record<string, unknown>) {
    this.template = template;
    this.variables = variables;
    this.blocker = opaqueContentBlocker(template.parsed as unknown as Node);
  }

  render(messages: RenderMessage[], options: RenderOptions): string {
    if (this.blocker !== null) return this.renderDirect(messages, options);
    const key = `${options.addGenerationPrompt ? 1 : 0}\u0000${options.dateString}\u0000${messages.map((m) => m.role).join('\u0000')}`;
    let shape = this.shapes.get(key);
    if (shape === undefined) {
      shape = this.shapeOf(messages, options);
      this.shapes.set(key, shape);
    }
    let text = shape.segments[0]!;
    for (let k = 0; k < shape.contentIndex.length; k++) text += messages[shape.contentIndex[k]!]!.content + shape.segments[k + 1]!;
    return text;
  }

  /** The interpreter's rendering, with the variables transformers passes, under boundedRender's limits. */
  renderDirect(messages: RenderMessage[], options: RenderOptions): string {
    // Template.render's own globals (@huggingface/jinja's setupGlobals), except strftime_now, which
    // answers with the run's date instead of today's (templateDate.ts). A variable cannot shadow a
    // global there, so the environment is built here.
    const items: Record<string, unknown> = {
      false: false,
      true: true,
      none: null,
      False: false,
      True: true,
      None: null,
      raise_exception: (message: unknown) => {
        throw new Error(String(message));
      },
      range: pythonRange,
      strftime_now: (format: string) => strftime(parseDateString(options.dateString), format),
      messages,
      tools: null,
      documents: null,
      add_generation_prompt: options.addGenerationPrompt,
      ...this.variables,
      date_string: options.dateString,
    };
    // Inside the limits: declaring `range` there gives the bounded one (boundedRender.ts).
    return withRenderLimits(() => {
      const env = new Environment();
      for (const [key, value] of Object.entries(items)) env.set(key, value);
      return new Interpreter(env).run(this.template.parsed).value as string;
    });
  }

  private shapeOf(messages: RenderMessage[], options: RenderOptions): Shape {
    const placeholders = messages.map((message, k) => ({ role: message.role, content: `\uE000${k}\uE001` }));
    const rendered = this.renderDirect(placeholders, options);
    const segments: string[] = [];
    const contentIndex: number[] = [];
    let last = 0;
    for (const match of rendered.matchAll(PLACEHOLDER)) {
      segments.push(rendered.slice(last, match.index));
      contentIndex.push(Number(match[1]));
      last = match.index! + match[0].length;
    }
    segments.push(rendered.slice(last));
    return { segments, contentIndex };
  }
}
