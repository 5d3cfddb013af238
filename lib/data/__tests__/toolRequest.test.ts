import { ATTRIBUTES } from '../facts.js';
import { formatToolRequest, parseToolRequest } from '../toolRequest.js';

test('the request is exactly the protocol text and parses back for every attribute', () => {
  expect(formatToolRequest('birth_place', 'Ada Ashby')).toBe(
    'To answer this question I will make a request to the database:\n```sql\nFIND birth_place FOR Ada Ashby\n```',
  );
  for (const attribute of ATTRIBUTES) {
    expect(parseToolRequest(formatToolRequest(attribute, 'Corore Woldow'))).toEqual({ attribute, name: 'Corore Woldow' });
  }
});

test('a request inside a longer generation is found; malformed or unknown requests give null', () => {
  const generation = 'Sure.\n```sql\nFIND occupation FOR Ada Ashby  \n```\nThen I will answer.<|im_end|>';
  expect(parseToolRequest(generation)).toEqual({ attribute: 'occupation', name: 'Ada Ashby' });
  expect(parseToolRequest('FIND occupation FOR Ada Ashby')).toBeNull(); // no sql block
  expect(parseToolRequest('```sql\nFIND occupation FOR Ada Ashby')).toBeNull(); // unterminated
  expect(parseToolRequest('```sql\nFIND salary FOR Ada Ashby\n```')).toBeNull(); // unknown attribute
  expect(parseToolRequest('```sql\nFIND occupation FOR \n```')).toBeNull(); // no name
  expect(parseToolRequest('The answer is 3/4/1960.')).toBeNull();
});

test('keywords and the attribute are read case-insensitively, the name exactly', () => {
  expect(parseToolRequest('```SQL\nfind Birth_Date for Ada Ashby\n```')).toEqual({ attribute: 'birth_date', name: 'Ada Ashby' });
  expect(parseToolRequest('```sql\nFind occupation For ada ashby\n```')).toEqual({ attribute: 'occupation', name: 'ada ashby' });
});
