import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** ARBOR_METRICS_PORT and ARBOR_METRICS_HOST, as config.ts reads them. */
describe('metrics settings', () => {
  it('listen on 127.0.0.1:9464 by default', () => {
    const config = loadConfig({});
    expect(config.metricsPort).toBe(9464);
    expect(config.metricsHost).toBe('127.0.0.1');
  });

  it('take a port from 0 (off) to 65535 and an address or host name', () => {
    expect(loadConfig({ ARBOR_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(loadConfig({ ARBOR_METRICS_PORT: '9100', ARBOR_METRICS_HOST: '0.0.0.0' })).toMatchObject({ metricsPort: 9100, metricsHost: '0.0.0.0' });
    expect(loadConfig({ ARBOR_METRICS_HOST: '::' }).metricsHost).toBe('::');
    expect(loadConfig({ ARBOR_METRICS_HOST: 'metrics.internal' }).metricsHost).toBe('metrics.internal');
  });

  it.each([
    ['ARBOR_METRICS_PORT', '-1', 'ARBOR_METRICS_PORT must be an integer between 0 and 65535, got "-1"'],
    ['ARBOR_METRICS_PORT', '65536', 'ARBOR_METRICS_PORT must be an integer between 0 and 65535, got "65536"'],
    ['ARBOR_METRICS_PORT', 'metrics', 'ARBOR_METRICS_PORT must be an integer between 0 and 65535, got "metrics"'],
    ['ARBOR_METRICS_PORT', '94.64', 'ARBOR_METRICS_PORT must be an integer between 0 and 65535, got "94.64"'],
    ['ARBOR_METRICS_HOST', 'http://127.0.0.1', 'ARBOR_METRICS_HOST must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "http://127.0.0.1"'],
    ['ARBOR_METRICS_HOST', '127.0.0.1:9464', 'ARBOR_METRICS_HOST must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "127.0.0.1:9464"'],
    ['ARBOR_METRICS_HOST', 'a host', 'ARBOR_METRICS_HOST must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "a host"'],
  ])('refuse %s=%s with a message that names the setting', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('refuse the API port: the metrics listener needs a port of its own', () => {
    expect(() => loadConfig({ PORT: '9000', ARBOR_METRICS_PORT: '9000' })).toThrow('ARBOR_METRICS_PORT (9000) must differ from PORT (9000); 0 turns the metrics listener off');
    expect(loadConfig({ PORT: '0', ARBOR_METRICS_PORT: '0' }).metricsPort).toBe(0);
  });
});
