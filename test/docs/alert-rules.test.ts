import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { createOu, createTenant } from '../helpers/factories.js';
import { type MetricsApp, startMetricsApp } from '../helpers/metrics-app.js';
import { type Scrape, familyOf } from '../helpers/prometheus.js';

/*
 * docs/prometheus/arbor-alerts.yml, the alerting rules docs/operations.md recommends: a valid
 * Prometheus rule file, every expression valid PromQL by Prometheus's own grammar
 * (@prometheus-io/lezer-promql), and every metric they name served by a running app.
 */

const RULES_FILE = new URL('../../docs/prometheus/arbor-alerts.yml', import.meta.url);
const OPERATIONS = new URL('../../docs/operations.md', import.meta.url);

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}

/** Functions whose argument must be a range vector (a selector with `[5m]`, or a subquery). */
const RANGE_FUNCTIONS = new Set(['Rate', 'Irate', 'Increase', 'Delta', 'Idelta', 'Deriv', 'Changes', 'Resets', 'PredictLinear', 'HoltWinters', 'DoubleExponentialSmoothing']);

interface PromqlCheck {
  problems: string[];
  /** Metric names of the expression's selectors. */
  metrics: string[];
}

/**
 * Parses `expr` with Prometheus's lezer grammar. A syntax error is a node of error type
 * anywhere in the tree; the grammar does not check function argument types, so the range
 * functions are checked here too (`rate(x)` instead of `rate(x[5m])` is a classic).
 */
function checkPromql(expr: string): PromqlCheck {
  const problems: string[] = [];
  const metrics: string[] = [];
  const tree = parser.parse(expr);
  if (tree.topNode.name !== 'PromQL') problems.push(`top node is ${tree.topNode.name}`);
  tree.iterate({
    enter(node) {
      if (node.type.isError) problems.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.from + 20))}`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to));
      if (node.name === 'FunctionCall') {
        const identifier = node.node.getChild('FunctionIdentifier')?.firstChild?.name ?? '';
        const range = /OverTime$/.test(identifier) || RANGE_FUNCTIONS.has(identifier);
        const argument = node.node.getChild('FunctionCallBody')?.firstChild;
        if (range && argument && !['MatrixSelector', 'SubqueryExpr'].includes(argument.name)) {
          problems.push(`${expr.slice(node.from, node.to)}: ${identifier} needs a range vector, got ${argument.name}`);
        }
      }
    },
  });
  return { problems, metrics };
}

function loadRules(): { groups: { name: string; rules: Rule[] }[] } {
  const document = parseDocument(readFileSync(RULES_FILE, 'utf8'), { prettyErrors: true });
  expect(document.errors.map((e) => e.message)).toEqual([]);
  expect(document.warnings.map((e) => e.message)).toEqual([]);
  return document.toJS();
}

describe('checkPromql', () => {
  it.each([
    ['an unclosed parenthesis', 'sum(rate(arbor_http_requests_shed_total[5m])'],
    ['a dangling operator', 'arbor_webhook_backlog >'],
    ['an unclosed label set', 'up{job="arbor" == 0'],
    ['a range function on an instant vector', 'rate(arbor_http_requests_shed_total) > 0'],
    ['a bad duration', 'rate(arbor_http_requests_shed_total[5 minutes]) > 0'],
    ['an unknown function', 'arbor_webhook_backlog > nosuchfunction(1)'],
  ])('finds %s', (_label, expr) => {
    expect(checkPromql(expr).problems).not.toEqual([]);
  });

  it('passes a valid expression and names its metrics', () => {
    const check = checkPromql('sum by (le) (rate(arbor_http_request_duration_seconds_bucket{route!="unmatched"}[5m])) > on () group_left max(up)');
    expect(check.problems).toEqual([]);
    expect(check.metrics).toEqual(['arbor_http_request_duration_seconds_bucket', 'up']);
  });
});

describe('docs/prometheus/arbor-alerts.yml', () => {
  let app: MetricsApp;
  let scraped: Scrape;
  beforeAll(async () => {
    app = await startMetricsApp();
    // One request of each kind, so that the histogram has samples to show.
    const tenant = await createTenant(app.context);
    await createOu(app.context, tenant.id);
    scraped = await app.scrape();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is a rule file: groups of rules, each with alert, expr, for, labels.severity and annotations.summary', () => {
    const { groups } = loadRules();
    expect(groups.length).toBeGreaterThan(0);
    const names = new Set<string>();
    for (const group of groups) {
      expect(Object.keys(group).sort()).toEqual(['name', 'rules']);
      expect(group.name).toMatch(/^\S+$/);
      expect(group.rules.length).toBeGreaterThan(0);
      for (const rule of group.rules) {
        expect(Object.keys(rule).every((key) => ['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(key)), `keys of ${rule.alert}`).toBe(true);
        expect(rule.alert).toMatch(/^Arbor[A-Z][A-Za-z0-9]+$/);
        expect(names.has(rule.alert), `${rule.alert} twice`).toBe(false);
        names.add(rule.alert);
        expect(typeof rule.expr).toBe('string');
        expect(rule.for, `for of ${rule.alert}`).toMatch(/^(\d+(ms|s|m|h|d|w|y))+$/);
        expect(['page', 'warning', 'info']).toContain(rule.labels?.severity);
        expect(rule.annotations?.summary?.length ?? 0, `summary of ${rule.alert}`).toBeGreaterThan(10);
      }
    }
  });

  it('has valid PromQL in every expr, by the Prometheus grammar', () => {
    for (const rule of loadRules().groups.flatMap((g) => g.rules)) {
      expect(checkPromql(rule.expr).problems, rule.alert).toEqual([]);
    }
  });

  it('names only metrics a running app serves (arbor_ and Node.js ones)', () => {
    const served = new Set(scraped.samples.map((s) => s.name));
    const named = loadRules().groups.flatMap((g) => g.rules.flatMap((rule) => checkPromql(rule.expr).metrics.map((metric) => [rule.alert, metric] as const)));
    expect(named.some(([, metric]) => metric.startsWith('arbor_'))).toBe(true);
    for (const [alert, metric] of named) {
      if (metric === 'up') continue; // Prometheus's own, per scrape target
      expect(served.has(metric), `${alert} names ${metric}, which the app does not serve`).toBe(true);
    }
  });

  it('alerts on each of: 5xx ratio, p99 latency, shedding, 429s, event-loop lag, pool waiting, store errors, a stale feed, a growing webhook backlog', () => {
    const exprs = loadRules().groups.flatMap((g) => g.rules.map((rule) => rule.expr)).join('\n');
    for (const needle of [
      'status_code=~"5.."',
      'histogram_quantile(0.99',
      'arbor_http_requests_shed_total',
      'arbor_http_requests_rate_limited_total',
      'nodejs_eventloop_lag',
      'arbor_store_pool_waiting',
      'arbor_store_errors_total',
      'arbor_change_feed_newest_event_age_seconds',
      'arbor_webhook_backlog',
    ]) {
      expect(exprs).toContain(needle);
    }
  });

  it('is described in docs/operations.md: every alert, and every arbor_ metric the app serves', () => {
    const operations = readFileSync(OPERATIONS, 'utf8');
    // Found by includes(): a failed toContain would print the whole document.
    const mentions = (text: string) => operations.includes(text);
    expect(mentions('prometheus/arbor-alerts.yml'), 'a link to the rule file').toBe(true);
    for (const rule of loadRules().groups.flatMap((g) => g.rules)) expect(mentions(`\`${rule.alert}\``), rule.alert).toBe(true);
    const families = new Set([...scraped.types.keys()].filter((name) => name.startsWith('arbor_')));
    for (const sample of scraped.samples) if (sample.name.startsWith('arbor_')) families.add(familyOf(scraped, sample.name));
    expect(families.size).toBeGreaterThan(10);
    for (const family of families) expect(mentions(`\`${family}\``), family).toBe(true);
  });
});
