import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/** A Kysely plugin that counts the statements run through a handle it is on (`count`, which a test may reset). */
export interface StatementCounter extends KyselyPlugin {
  count: number;
}

/**
 * Kysely runs a plugin's transformResult once per executed statement (transformQuery also sees
 * subqueries); a transaction's begin and commit run outside the plugin.
 */
export function statementCounter(): StatementCounter {
  const counter: StatementCounter = {
    count: 0,
    transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => args.node,
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      counter.count++;
      return args.result;
    },
  };
  return counter;
}
