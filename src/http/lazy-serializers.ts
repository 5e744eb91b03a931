import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type RouteSchema = { schema: unknown; method: string; url: string; httpStatus: string };
type Serialize = (data: unknown) => string;

const eager = SerializerSelector();

/**
 * Fastify's response serializers (fast-json-stringify), each compiled the first time its route
 * answers with its status instead of all of them when the app starts. A process serves a few
 * dozen (route, status) pairs; compiling the ~150 declared ones up front took most of buildApp's
 * time, which every test pays (measured in the issue note for webhooks).
 */
export function lazySerializers(externalSchemas: unknown, options: unknown): (route: RouteSchema) => Serialize {
  const compile = eager(externalSchemas as never, options as never) as unknown as (route: RouteSchema) => Serialize;
  return (route) => {
    let serialize: Serialize | undefined;
    return (data) => (serialize ??= compile(route))(data);
  };
}
