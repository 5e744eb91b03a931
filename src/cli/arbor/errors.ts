/**
 * How the CLI fails: its exit codes (docs/cli.md), and the API's answers and thrown errors turned
 * into one CliError each (a line for stderr, and an exit code). Here rather than in the entry,
 * src/cli/arbor.ts, so that every noun's commands can throw them without importing the entry.
 */

/** Exit codes (docs/cli.md). */
export const EXIT = { ok: 0, api: 1, usage: 2, auth: 3, unreachable: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** What an SDK operation resolves to (without throwOnError). */
export interface Answer<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/** An operation's answer, or the CliError its failure is: the API's own words, and an exit code. */
export async function call<T>(pending: Promise<Answer<T>>): Promise<T> {
  return (await answered(pending)).data;
}

/** As call(), with the response too (its headers). */
export async function answered<T>(pending: Promise<Answer<T>>): Promise<{ data: T; response: Response }> {
  let result: Answer<T>;
  try {
    result = await pending;
  } catch (error) {
    throw unreachable(error);
  }
  // No answer at all (the client reports a network error, or a refused token, as `error`).
  if (!result.response) throw unreachable(result.error);
  // A 2xx, its body included when it has one (a 204 has none).
  if (result.response.ok) return { data: result.data as T, response: result.response };
  const status = result.response.status;
  const body = (result.error ?? {}) as { detail?: unknown; code?: unknown; error?: unknown; error_description?: unknown };
  const detail = Array.isArray(body.detail)
    ? body.detail.map((issue: { loc?: unknown[]; msg?: string }) => `${(issue.loc ?? []).join('.')}: ${issue.msg}`).join('; ')
    : String(body.detail ?? body.error_description ?? 'no detail');
  const code = body.code ?? body.error;
  throw new CliError(`${status}${code ? ` ${String(code)}` : ''}: ${detail}`, status === 401 ? EXIT.auth : EXIT.api);
}

export function unreachable(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const name = (error as Error)?.name;
  if (name === 'ArborAuthError') return new CliError((error as Error).message, (error as { status?: number }).status ? EXIT.auth : EXIT.unreachable);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return new CliError(`Cannot reach Arbor: ${cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)}`, EXIT.unreachable);
}

/** What a thrown error is to the user: an error body of the API (each(), follow() throw those), or no answer at all. */
export function failure(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const body = error as { code?: unknown; detail?: unknown } | null;
  if (body && typeof body === 'object' && !(error instanceof Error) && typeof body.code === 'string') {
    const auth = body.code === 'auth.missing_token' || body.code === 'auth.invalid_token';
    return new CliError(`${body.code}: ${typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail ?? '')}`, auth ? EXIT.auth : EXIT.api);
  }
  return unreachable(error);
}

/** Every item of a listing, or the CliError its failure is. */
export async function all<T>(items: AsyncGenerator<T>): Promise<T[]> {
  const rows: T[] = [];
  try {
    for await (const item of items) rows.push(item);
  } catch (error) {
    throw failure(error);
  }
  return rows;
}
