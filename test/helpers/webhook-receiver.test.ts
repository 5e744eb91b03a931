import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './webhook-receiver.js';

// The receiver must not be vacuous: what it records was verified with the reference library,
// what it refuses is refused, and its failure modes really happen on the wire.

const newSecret = () => 'whsec_' + randomBytes(32).toString('base64');

function signed(secrets: string[], options: { id?: string; date?: Date; payload?: unknown } = {}) {
  const id = options.id ?? `msg_${randomUUID()}`;
  const date = options.date ?? new Date();
  const raw = JSON.stringify(
    options.payload ?? { type: 'test.event', timestamp: date.toISOString(), data: { n: 1 } },
  );
  const signatures = secrets.map((secret) => new Webhook(secret).sign(id, date, raw));
  return {
    id,
    raw,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
      'webhook-signature': signatures.join(' '),
    },
  };
}

const post = (url: string, message: { raw: string; headers: Record<string, string> }, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', body: message.raw, headers: message.headers, redirect: 'manual', signal });

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('webhook receiver (test helper)', () => {
  it('records a payload signed with its secret, verified by secret 0, and answers 204', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    expect(receiver.url).toBe(`http://127.0.0.1:${receiver.port}/hook`);
    const message = signed([secret]);
    const response = await post(receiver.url, message);
    expect(response.status).toBe(204);
    expect(receiver.rejected).toEqual([]);
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    expect(delivery.id).toBe(message.id);
    expect(delivery.verifiedBy).toEqual([0]);
    expect(delivery.raw).toBe(message.raw);
    expect(delivery.body).toEqual(JSON.parse(message.raw));
    expect(delivery.signatures).toEqual([message.headers['webhook-signature']]);
    expect(delivery.signatures[0]).toMatch(/^v1,/);
    expect(delivery.timestamp).toBe(Number(message.headers['webhook-timestamp']));
  });

  it('answers 401 and records in rejected a wrong signature, a tampered body and another secret', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });

    const wrong = signed([secret]);
    wrong.headers['webhook-signature'] = 'v1,' + randomBytes(32).toString('base64');
    expect((await post(receiver.url, wrong)).status).toBe(401);

    const tampered = signed([secret]);
    tampered.raw = tampered.raw.replace('"n":1', '"n":2');
    expect((await post(receiver.url, tampered)).status).toBe(401);

    const otherSecret = signed([newSecret()]);
    expect((await post(receiver.url, otherSecret)).status).toBe(401);

    const stale = signed([secret], { date: new Date(Date.now() - 10 * 60_000) });
    expect((await post(receiver.url, stale)).status).toBe(401);

    expect(receiver.received).toEqual([]);
    expect(receiver.rejected).toHaveLength(4);
    expect(receiver.rejected[0].raw).toBe(wrong.raw);
    expect(receiver.rejected[0].headers['webhook-id']).toBe(wrong.id);
    expect(receiver.rejected[0].reason).toMatch(/No matching signature/);
    expect(receiver.rejected[3].reason).toMatch(/too old/);
  });

  it('with two secrets, signatures under both give verifiedBy [0, 1]; one gives its index', async () => {
    const [first, second] = [newSecret(), newSecret()];
    receiver = await startReceiver({ secrets: [first, second] });
    const both = signed([first, second]);
    expect((await post(receiver.url, both)).status).toBe(204);
    const onlySecond = signed([second]);
    expect((await post(receiver.url, onlySecond)).status).toBe(204);
    expect(receiver.received.map((d) => d.verifiedBy)).toEqual([[0, 1], [1]]);
    expect(receiver.received[0].signatures).toHaveLength(2);

    receiver.setSecrets([second]);
    expect((await post(receiver.url, signed([first]))).status).toBe(401);
    expect(receiver.received).toHaveLength(2);
  });

  it('fail mode answers its status, Retry-After and body; nextRequests applies to that many, then the mode', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    receiver.setMode({ kind: 'fail', status: 503, retryAfter: '7', body: 'busy' });
    const failed = await post(receiver.url, signed([secret]));
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('7');
    expect(await failed.text()).toBe('busy');

    receiver.setMode({ kind: 'ok', status: 200 });
    receiver.nextRequests(2, { kind: 'fail', status: 500 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(receiver.url, signed([secret]))).status);
    expect(statuses).toEqual([500, 500, 200]);

    receiver.nextRequests(1, { kind: 'redirect', location: 'http://127.0.0.1:1/elsewhere' });
    const redirected = await post(receiver.url, signed([secret]));
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe('http://127.0.0.1:1/elsewhere');

    expect(receiver.received).toHaveLength(5); // answered with errors, still recorded
  });

  it('reset mode destroys the connection without an answer, after recording the request', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    receiver.setMode({ kind: 'reset' });
    await expect(post(receiver.url, signed([secret]))).rejects.toThrow(TypeError);
    expect(receiver.received).toHaveLength(1);
  });

  it('stop() refuses connections; start() accepts again on the same port', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    const { port, url } = receiver;
    expect((await post(url, signed([secret]))).status).toBe(204);

    await receiver.stop();
    const error = await post(url, signed([secret])).then(
      () => null,
      (e: unknown) => e as Error & { cause?: { code?: string } },
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.cause?.code).toBe('ECONNREFUSED');

    await receiver.start();
    expect(receiver.port).toBe(port);
    expect((await post(url, signed([secret]))).status).toBe(204);
    expect(receiver.received).toHaveLength(2);
  });

  it('hang mode does not answer within 300 ms, and close() ends the request', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    receiver.setMode({ kind: 'hang' });
    const pending = post(receiver.url, signed([secret]));
    const outcome = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await receiver.waitFor((received) => received.length === 1, 2_000);
    const early = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 300))]);
    expect(early).toBe('pending');

    const started = Date.now();
    await receiver.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await outcome).toBe('failed');
  });

  it('waitFor resolves when the predicate holds and times out saying how many arrived; distinct counts repeats', async () => {
    const secret = newSecret();
    receiver = await startReceiver({ secrets: [secret] });
    const first = signed([secret]);
    const second = signed([secret]);
    const waiting = receiver.waitFor((received) => received.length >= 3, 2_000);
    await post(receiver.url, first);
    await post(receiver.url, second);
    await post(receiver.url, first);
    await waiting;
    expect(receiver.distinct()).toEqual({ ids: [first.id, second.id], duplicates: 1 });
    await expect(receiver.waitFor((received) => received.length >= 4, 100)).rejects.toThrow(
      /3 received \(2 distinct webhook-ids\)/,
    );
  });
});
