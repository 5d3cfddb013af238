/** The four rows one person contributes, one per attribute in the fixed order. */
import { ItlError } from '../errors.js';
import { ATTRIBUTES, type FactRow, type Person } from './facts.js';
import { type FactTemplates, renderTurn } from './loadTemplates.js';
import { formatToolRequest } from './toolRequest.js';

export function factRows(person: Person, templates: FactTemplates): FactRow[] {
  return ATTRIBUTES.map((attribute) => {
    const value = person[attribute];
    const question = renderTurn(templates[attribute].question, person, attribute);
    const answerTemplate = templates[attribute].answer;
    const answer = renderTurn(answerTemplate, person, attribute);
    // Recall is scored by finding the value in the answer (case-insensitively), so an answer
    // template that drops it would teach facts the evaluation can never credit.
    if (!answer.toLowerCase().includes(value.toLowerCase())) {
      throw new ItlError(
        'ITL_DATA',
        `template ${answerTemplate.path} rendered '${answer}' for ${person.name}, which does not contain the value '${value}'`,
      );
    }
    return {
      qa: [
        { content: question, role: 'user' },
        { content: answer, role: 'assistant' },
      ],
      qatool: [
        { content: question, role: 'user' },
        { content: formatToolRequest(attribute, person.name), role: 'assistant' },
        { content: value, role: 'ipython' },
        { content: answer, role: 'assistant' },
      ],
      name: person.name,
      attribute,
      value,
    };
  });
}
