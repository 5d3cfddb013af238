/**
 * A Vega-Lite spec to SVG (vega's headless view, no canvas or browser) and to PNG (resvg, with the
 * system's fonts: the SVG names DejaVu Sans, which Debian's fonts-dejavu-core provides; resvg falls
 * back to any sans-serif it finds).
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

import { ItlError } from '../errors.js';

export async function renderSvg(spec: TopLevelSpec, name: string): Promise<string> {
  let view: vega.View | undefined;
  try {
    const compiled = compile(spec).spec;
    view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    return await view.toSVG();
  } catch (error) {
    throw new ItlError('ITL_INTERNAL', `figure '${name}': Vega could not render it (${(error as Error).message})`, { cause: error });
  } finally {
    view?.finalize();
  }
}

/** PNG at twice the SVG's size, for slides and papers. */
export function renderPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
