// The checks every GraphQL document passes before the federation engine sees it: parse
// (with a token limit), the spec's validation rules against the API schema (fragment
// cycles among them: one aborts grafbase's whole process), and Kindred's limits. Each
// document text is checked once; later requests with the same text cost a map lookup.
import {
  GraphQLError,
  Kind,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
} from 'graphql';
import { LIMITS } from './limits.mjs';

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);
// Validation errors reported before giving up on a document.
const MAX_VALIDATION_ERRORS = 20;

// One verdict per document text: {document} or {errors, code}.
class Verdicts {
  constructor(size) {
    this.size = size;
    this.map = new Map();
  }

  get(key) {
    const value = this.map.get(key);
    if (value !== undefined) {
      // Least recently used first: move this one to the back.
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key, value) {
    if (this.map.size >= this.size) this.map.delete(this.map.keys().next().value);
    this.map.set(key, value);
  }
}

const ZERO = Object.freeze({ depth: 0, introspectionDepth: 0, aliases: 0 });

// Measures a selection set: field depth (plain and introspection nesting apart) and
// aliases, fragments inlined. Each fragment is measured once per kind of nesting and
// remembered, so fragments spreading others many times cost linear time, not exponential.
// This runs before validation (which is costlier), so it must survive any parsed
// document: an unknown fragment or a spread back into a fragment being measured counts
// nothing (validation refuses both anyway).
function measure(selectionSet, fragments, memo, inIntrospection = false) {
  const figures = { ...ZERO };
  const merge = (inner) => {
    figures.depth = Math.max(figures.depth, inner.depth);
    figures.introspectionDepth = Math.max(figures.introspectionDepth, inner.introspectionDepth);
    figures.aliases += inner.aliases;
  };
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      merge(measure(selection.selectionSet, fragments, memo, inIntrospection));
    } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const key = `${inIntrospection}:${selection.name.value}`;
      const fragment = fragments.get(selection.name.value);
      if (!memo.has(key) && fragment) {
        memo.set(key, ZERO); // while it is being measured: a cycle back to it counts nothing
        memo.set(key, measure(fragment.selectionSet, fragments, memo, inIntrospection));
      }
      merge(memo.get(key) ?? ZERO);
    } else {
      const introspection = inIntrospection || INTROSPECTION_ROOTS.has(selection.name.value);
      const below = selection.selectionSet
        ? measure(selection.selectionSet, fragments, memo, introspection)
        : ZERO;
      figures.aliases += below.aliases + (selection.alias ? 1 : 0);
      if (introspection) {
        figures.introspectionDepth = Math.max(figures.introspectionDepth, 1 + below.introspectionDepth);
      } else {
        figures.depth = Math.max(figures.depth, 1 + below.depth);
        figures.introspectionDepth = Math.max(figures.introspectionDepth, below.introspectionDepth);
      }
    }
  }
  return figures;
}

function fragmentsOf(document) {
  const fragments = new Map();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

// A validation rule: no field, fragment, operation or variable carries too many directives.
function DirectivesPerLocationRule(context) {
  const check = (node) => {
    const count = node.directives?.length ?? 0;
    if (count > LIMITS.maxDirectivesPerLocation) {
      const message = `At most ${LIMITS.maxDirectivesPerLocation} directives may be put in one place; this one has ${count}.`;
      context.reportError(limitError(message, 'directives', LIMITS.maxDirectivesPerLocation, [node]));
    }
  };
  return {
    Field: check,
    FragmentSpread: check,
    InlineFragment: check,
    FragmentDefinition: check,
    OperationDefinition: check,
    VariableDefinition: check,
  };
}

// A document refused for a limit: GRAPHQL_VALIDATION_FAILED naming the limit, as the
// subgraphs answer (libs/kindred/limits.py).
function limitError(message, limit, max, nodes) {
  return new GraphQLError(message, { nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit, max } });
}

// graphql-js's own limit errors, named like the subgraphs name them.
function explained(error) {
  if (error.message.startsWith('Syntax Error: Document contains more that')) {
    const message = `The document has more than ${LIMITS.maxTokens} tokens: ask for fewer fields, or split the operation into several requests.`;
    return limitError(message, 'tokens', LIMITS.maxTokens);
  }
  if (error.message === 'Maximum introspection depth exceeded') {
    const message =
      'This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL\'s introspection query fits).';
    return limitError(message, 'introspectionLists', LIMITS.maxIntrospectionLists, error.nodes);
  }
  return error;
}

const RULES = [...specifiedRules, DirectivesPerLocationRule];

function limitErrors(operation, fragments) {
  const figures = measure(operation.selectionSet, fragments, new Map());
  const errors = [];
  const over = (what, value, limit, max) =>
    errors.push(limitError(`${what} is ${value}; at most ${max} is allowed.`, limit, max, [operation]));
  // Depth counts the levels below a root field, as the subgraphs' limiter does.
  const depth = Math.max(0, figures.depth - 1);
  if (depth > LIMITS.maxDepth) over('The depth of this operation', depth, 'depth', LIMITS.maxDepth);
  if (figures.aliases > LIMITS.maxAliases) over('The number of aliases', figures.aliases, 'aliases', LIMITS.maxAliases);
  if (figures.introspectionDepth > LIMITS.maxIntrospectionDepth) {
    over('The introspection depth', figures.introspectionDepth, 'introspectionDepth', LIMITS.maxIntrospectionDepth);
  }
  return errors;
}

export class DocumentChecker {
  constructor(schema, { cacheSize = 1000 } = {}) {
    this.schema = schema;
    this.verdicts = new Verdicts(cacheSize);
  }

  // {document} if the text is a valid document within the limits, else {errors, code}.
  checkText(query) {
    let verdict = this.verdicts.get(query);
    if (verdict === undefined) {
      verdict = this.#judge(query);
      this.verdicts.set(query, verdict);
    }
    return verdict;
  }

  // The operation to run: {operation, document} or {errors, code}.
  check(query, operationName) {
    const verdict = this.checkText(query);
    if (verdict.errors) return verdict;
    const operation = getOperationAST(verdict.document, operationName ?? undefined);
    if (!operation) {
      const message = operationName
        ? `The document has no operation named "${operationName}".`
        : 'The document has several operations: say which one to run in `operationName`.';
      return { errors: [new GraphQLError(message)], code: 'OPERATION_RESOLUTION_FAILURE' };
    }
    return { operation, document: verdict.document };
  }

  #judge(query) {
    if (query.length > LIMITS.maxQueryBytes / 4 && Buffer.byteLength(query) > LIMITS.maxQueryBytes) {
      const message = `The GraphQL document is over ${LIMITS.maxQueryBytes} bytes: send a smaller one.`;
      return { errors: [new GraphQLError(message)], code: 'PAYLOAD_TOO_LARGE', status: 413 };
    }
    let document;
    try {
      document = parse(query, { maxTokens: LIMITS.maxTokens });
    } catch (error) {
      return { errors: [explained(error)], code: 'GRAPHQL_PARSE_FAILED' };
    }
    // The limits first: they are cheap, and they spare validation a document too big to
    // be worth its time.
    const fragments = fragmentsOf(document);
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const over = limitErrors(definition, fragments);
      if (over.length) return { errors: over, code: 'GRAPHQL_VALIDATION_FAILED' };
    }
    const errors = validate(this.schema, document, RULES, { maxErrors: MAX_VALIDATION_ERRORS });
    if (errors.length) return { errors: errors.map(explained), code: 'GRAPHQL_VALIDATION_FAILED' };
    return { document };
  }
}
