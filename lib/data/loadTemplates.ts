/**
 * The dialogue templates: for each attribute a question (user turn) and an answer (assistant turn),
 * Jinja files `<attribute>.question.jinja` and `<attribute>.answer.jinja` rendered with
 * @huggingface/jinja. Variables: name, first_name, last_name, attribute, value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Template } from '@huggingface/jinja';

import { ItlError } from '../errors.js';
import { ATTRIBUTES, type Attribute, type Person } from './facts.js';

export interface DialogueTemplate {
  path: string;
  template: Template;
}

export type FactTemplates = Record<Attribute, { question: DialogueTemplate; answer: DialogueTemplate }>;

export function templateFiles(attribute: Attribute): { question: string; answer: string } {
  return { question: `${attribute}.question.jinja`, answer: `${attribute}.answer.jinja` };
}

export function loadTemplates(dir: string): FactTemplates {
  const templates = {} as FactTemplates;
  for (const attribute of ATTRIBUTES) {
    const files = templateFiles(attribute);
    templates[attribute] = { question: loadTemplate(join(dir, files.question)), answer: loadTemplate(join(dir, files.answer)) };
  }
  return templates;
}

function loadTemplate(path: string): DialogueTemplate {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ItlError('ITL_IO', `cannot read template ${path}: ${(error as Error).message}`);
  }
  if (text.trim() === '') throw new ItlError('ITL_DATA', `template ${path} is empty`);
  try {
    return { path, template: new Template(text) };
  } catch (error) {
    throw new ItlError('ITL_DATA', `template ${path} does not parse: ${(error as Error).message}`);
  }
}

/** Renders one turn; a failure or an empty result names the template and the person. */
export function renderTurn(turn: DialogueTemplate, person: Person, attribute: Attribute): string {
  let text: string;
  try {
    text = turn.template.render({
      name: person.name,
      first_name: person.firstName,
      last_name: person.lastName,
      attribute,
      value: person[attribute],
    });
  } catch (error) {
    throw new ItlError('ITL_DATA', `template ${turn.path} failed to render for ${person.name}: ${(error as Error).message}`);
  }
  if (text.trim() === '') throw new ItlError('ITL_DATA', `template ${turn.path} rendered nothing for ${person.name}`);
  return text;
}
