import { expect } from 'vitest';

/**
 * Reading what `/metrics` serves: a small parser of the Prometheus text format (0.0.4), enough to
 * check series, labels and values, and a scrape over real HTTP.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  text: string;
  samples: Sample[];
  /** `# HELP` text by metric family name. */
  help: Map<string, string>;
  /** `# TYPE` by metric family name. */
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`unreadable labels in: ${line}`);
    labels[match[1]] = match[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Every sample, HELP and TYPE of a Prometheus text exposition; throws on a line it cannot read. */
export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      (comment[1] === 'HELP' ? help : types).set(comment[2], comment[3]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unreadable sample line: ${line}`);
    samples.push({ name: match[1], labels: match[2] ? parseLabels(match[2], line) : {}, value: parseValue(match[3]) });
  }
  return { text, samples, help, types };
}

/** GET `url` (a metrics listener's /metrics) over HTTP: 200 in the Prometheus text format, parsed. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(text);
}

/** The samples named `name` whose labels include `labels`. */
export function samplesOf(scraped: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scraped.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export function valueOf(scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(scraped, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** The metric family a sample belongs to: `x_bucket`, `x_sum` and `x_count` of histogram `x` are `x`. */
export function familyOf(scraped: Scrape, sampleName: string): string {
  const base = sampleName.replace(/_(bucket|sum|count)$/, '');
  return scraped.types.get(base) === 'histogram' || scraped.types.get(base) === 'summary' ? base : sampleName;
}
