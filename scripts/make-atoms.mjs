#!/usr/bin/env node
// Writes the atom lists shipped in lib/data/atoms/: invented first and last names (every onset
// crossed with every ending, so the lists are reproducible and each side has well over 1,000
// entries), plus hand-picked real countries, real cities and common occupations.
// Run: node scripts/make-atoms.mjs [OUT_DIR]   (default lib/data/atoms)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'lib/data/atoms'));

const firstOnsets = [
  'Al', 'Bel', 'Cor', 'Dar', 'El', 'Fen', 'Gal', 'Hal', 'Is', 'Jor', 'Kal', 'Lor', 'Mar', 'Nel', 'Or', 'Per',
  'Quin', 'Ros', 'Sel', 'Tam', 'Ul', 'Val', 'Wen', 'Yor', 'Zel', 'Ad', 'Bren', 'Cal', 'Del', 'Em', 'Flor',
  'Gil', 'Har', 'Ivo', 'Jas', 'Lin', 'Mel', 'Nor', 'Os', 'Ren',
];
const firstEndings = [
  'a', 'ana', 'ena', 'ia', 'ine', 'is', 'o', 'on', 'an', 'en', 'el', 'ette', 'ric', 'win', 'wyn', 'ard',
  'ius', 'ara', 'ela', 'ira', 'ley', 'mer', 'ven', 'ina', 'uel', 'ore', 'ice', 'ias', 'yn', 'dra',
];
const lastOnsets = [
  'Ash', 'Brad', 'Carr', 'Dun', 'Ell', 'Fair', 'Gold', 'Hart', 'Ing', 'Kettle', 'Lang', 'Mor', 'North', 'Oak',
  'Pem', 'Quar', 'Rad', 'Stan', 'Thorn', 'Um', 'Vey', 'Wex', 'Yar', 'Zan', 'Black', 'Crane', 'Dray', 'Elm',
  'Frost', 'Grey', 'Holl', 'Kirk', 'Lind', 'Marl', 'Pen', 'Rook', 'Sand', 'Tull', 'Whit', 'Wold',
];
const lastEndings = [
  'ford', 'wick', 'ley', 'ton', 'more', 'by', 'dale', 'field', 'well', 'worth', 'ham', 'stead', 'croft',
  'burn', 'ridge', 'shaw', 'brook', 'wood', 'cott', 'hurst', 'ins', 'son', 'er', 'ell', 'ard', 'ow', 'sey',
  'lin', 'mont', 'ville',
];

function cross(onsets, endings) {
  const seen = new Set();
  for (const onset of onsets) {
    for (const ending of endings) {
      // Avoid doubled letters across the join ("Ell"+"ley" → "Ellley"); drop the repeat.
      const joined = onset.endsWith(ending[0]) && onset.at(-2) === ending[0] ? onset + ending.slice(1) : onset + ending;
      seen.add(joined[0].toUpperCase() + joined.slice(1).toLowerCase());
    }
  }
  return [...seen].sort();
}

const countries = [
  'Argentina', 'Australia', 'Austria', 'Bangladesh', 'Belgium', 'Bolivia', 'Brazil', 'Bulgaria', 'Cambodia',
  'Cameroon', 'Canada', 'Chile', 'China', 'Colombia', 'Costa Rica', 'Croatia', 'Cuba', 'Czechia', 'Denmark',
  'Ecuador', 'Egypt', 'Estonia', 'Ethiopia', 'Finland', 'France', 'Georgia', 'Germany', 'Ghana', 'Greece',
  'Guatemala', 'Honduras', 'Hungary', 'Iceland', 'India', 'Indonesia', 'Ireland', 'Israel', 'Italy', 'Jamaica',
  'Japan', 'Jordan', 'Kenya', 'Latvia', 'Lebanon', 'Lithuania', 'Luxembourg', 'Madagascar', 'Malaysia', 'Mali',
  'Malta', 'Mexico', 'Mongolia', 'Morocco', 'Mozambique', 'Nepal', 'the Netherlands', 'New Zealand', 'Nigeria',
  'Norway', 'Pakistan', 'Panama', 'Paraguay', 'Peru', 'the Philippines', 'Poland', 'Portugal', 'Romania',
  'Rwanda', 'Senegal', 'Serbia', 'Singapore', 'Slovakia', 'Slovenia', 'South Africa', 'South Korea', 'Spain',
  'Sri Lanka', 'Sweden', 'Switzerland', 'Tanzania', 'Thailand', 'Tunisia', 'Turkey', 'Uganda', 'Ukraine',
  'the United Kingdom', 'the United States', 'Uruguay', 'Uzbekistan', 'Vietnam', 'Zambia', 'Zimbabwe',
];

const cities = [
  'Amsterdam', 'Athens', 'Auckland', 'Bangkok', 'Barcelona', 'Beijing', 'Berlin', 'Bogotá', 'Boston',
  'Brisbane', 'Brussels', 'Bucharest', 'Budapest', 'Buenos Aires', 'Cairo', 'Cape Town', 'Casablanca',
  'Chicago', 'Copenhagen', 'Dakar', 'Delhi', 'Denver', 'Dhaka', 'Dublin', 'Edinburgh', 'Florence', 'Geneva',
  'Glasgow', 'Hamburg', 'Hanoi', 'Havana', 'Helsinki', 'Houston', 'Istanbul', 'Jakarta', 'Johannesburg',
  'Kampala', 'Kraków', 'Kyoto', 'Lagos', 'Lima', 'Lisbon', 'Ljubljana', 'London', 'Los Angeles', 'Lyon',
  'Madrid', 'Manchester', 'Manila', 'Marseille', 'Melbourne', 'Mexico City', 'Miami', 'Milan', 'Montevideo',
  'Montreal', 'Moscow', 'Mumbai', 'Munich', 'Nairobi', 'Naples', 'Osaka', 'Oslo', 'Ottawa', 'Paris', 'Perth',
  'Porto', 'Prague', 'Quito', 'Reykjavik', 'Riga', 'Rio de Janeiro', 'Rome', 'Rotterdam', 'San Francisco',
  'Santiago', 'São Paulo', 'Seattle', 'Seoul', 'Seville', 'Shanghai', 'Singapore', 'Sofia', 'Stockholm',
  'Sydney', 'Taipei', 'Tallinn', 'Tokyo', 'Toronto', 'Tunis', 'Valencia', 'Vancouver', 'Venice', 'Vienna',
  'Vilnius', 'Warsaw', 'Wellington', 'Zagreb', 'Zurich',
];

const occupations = [
  'accountant', 'actor', 'agronomist', 'architect', 'archivist', 'astronomer', 'baker', 'banker', 'barber',
  'biologist', 'bookbinder', 'brewer', 'bus driver', 'butcher', 'carpenter', 'cartographer', 'chef', 'chemist',
  'civil engineer', 'dancer', 'data analyst', 'dentist', 'economist', 'electrician', 'engineer', 'farmer',
  'firefighter', 'fisherman', 'florist', 'gardener', 'geologist', 'graphic designer', 'historian', 'illustrator',
  'interpreter', 'jeweller', 'journalist', 'judge', 'landscape architect', 'lawyer', 'librarian', 'lighthouse keeper',
  'locksmith', 'marine biologist', 'mathematician', 'mechanic', 'midwife', 'museum curator', 'musician', 'nurse',
  'optician', 'painter', 'paramedic', 'pharmacist', 'photographer', 'physicist', 'physiotherapist', 'piano tuner',
  'pilot', 'plumber', 'poet', 'police officer', 'potter', 'psychologist', 'radio presenter', 'real estate agent',
  'research scientist', 'sailor', 'sculptor', 'software developer', 'sommelier', 'sound engineer', 'statistician',
  'surgeon', 'surveyor', 'tailor', 'teacher', 'translator', 'travel agent', 'urban planner', 'veterinarian',
  'violinist', 'watchmaker', 'web designer', 'welder', 'zookeeper',
];

const lists = {
  'first_names.txt': cross(firstOnsets, firstEndings),
  'last_names.txt': cross(lastOnsets, lastEndings),
  'countries.txt': countries,
  'cities.txt': cities,
  'occupations.txt': occupations,
};
mkdirSync(outDir, { recursive: true });
for (const [file, items] of Object.entries(lists)) {
  if (new Set(items).size !== items.length) throw new Error(`${file}: duplicate entries`);
  writeFileSync(join(outDir, file), items.join('\n') + '\n');
  console.log(`${file}: ${items.length}`);
}
